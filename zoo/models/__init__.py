"""Models of the zoo, one module a paper."""

from zoo.models.han import HierarchicalAttentionNetwork

__all__ = ["HierarchicalAttentionNetwork"]
