"""Reusable Keras layers of the zoo."""

from zoo.layers.attention import AdditiveAttention
from zoo.layers.maxout import Maxout
from zoo.layers.mdn import MixtureDensityOutput
from zoo.layers.soft_window import SoftWindow, WindowedLSTM
from zoo.layers.stacked_rnn import SkipStackedRNN

__all__ = ["AdditiveAttention", "Maxout", "MixtureDensityOutput", "SkipStackedRNN", "SoftWindow", "WindowedLSTM"]
