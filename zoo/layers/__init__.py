"""Reusable Keras layers of the zoo."""

from zoo.layers.attention import AdditiveAttention
from zoo.layers.context_gru import ContextGRU
from zoo.layers.lstm import LSTM
from zoo.layers.maxout import Maxout
from zoo.layers.mdn import MixtureDensityOutput
from zoo.layers.soft_window import SoftWindow, WindowedLSTM
from zoo.layers.stacked_rnn import SkipStackedRNN
from zoo.layers.tied_output import TiedOutput

__all__ = ["AdditiveAttention", "ContextGRU", "LSTM", "Maxout", "MixtureDensityOutput", "SkipStackedRNN",
           "SoftWindow", "TiedOutput", "WindowedLSTM"]
