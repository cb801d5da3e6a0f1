"""Reusable Keras layers of the zoo."""

from zoo.layers.attention import AdditiveAttention

__all__ = ["AdditiveAttention"]
