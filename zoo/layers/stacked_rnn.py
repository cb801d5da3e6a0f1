"""Deep recurrent stacks."""

import keras
from keras import ops

from zoo.layers.lstm import LSTM


@keras.saving.register_keras_serializable(package="zoo")
class SkipStackedRNN(keras.layers.Layer):
    """A stack of LSTMs with skip connections from the input and to the output.

    Graves 2013, "Generating Sequences With Recurrent Neural Networks", eqs. (1)-(3)
    and fig. 1: every layer sees the input and the layer below,

        h^1_t = H(W_{ih^1} x_t + W_{h^1h^1} h^1_{t-1} + b^1)
        h^n_t = H(W_{ih^n} x_t + W_{h^{n-1}h^n} h^{n-1}_t + W_{h^nh^n} h^n_{t-1} + b^n)

    and every layer feeds the output, ŷ_t = b_y + Σ_n W_{h^n y} h^n_t, which is
    one dense layer over the concatenation [h^1_t; ...; h^N_t] that this layer
    returns. H is an LSTM cell; W_{ih^n} and W_{h^{n-1}h^n} are one kernel over
    the concatenation [x_t; h^{n-1}_t].

    Args:
        units: LSTM units per layer.
        num_layers: depth N.
        use_cudnn: passed to the LSTMs (exports use False, see zoo.export).
        update_dropout: passed to the LSTMs: in training, dropout on their
            cell updates (`zoo.layers.LSTM`).

    Call arguments:
        inputs: `[batch, time, features]`.
        mask: optional boolean `[batch, time]`.
        initial_states: optional list of N `[h, c]` pairs, e.g. the states a
            previous call returned, to go on from where it stopped (sampling).
        training: passed to the LSTMs.

    Returns:
        `(outputs, states)`: outputs `[batch, time, N * units]`, the layers'
        hidden sequences side by side; states, N `[h, c]` pairs after the
        last step.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import SkipStackedRNN
    >>> rnn = SkipStackedRNN(units=8, num_layers=3)
    >>> x = np.random.default_rng(0).random((2, 7, 4), "float32")
    >>> outputs, states = rnn(x[:, :5])
    >>> tuple(outputs.shape), len(states), tuple(states[0][0].shape)  # N * units; N [h, c] pairs
    ((2, 5, 24), 3, (2, 8))
    >>> more, _ = rnn(x[:, 5:], initial_states=states)  # goes on from step 5
    >>> bool(np.allclose(more, rnn(x)[0][:, 5:], atol=1e-6))
    True
    """

    def __init__(self, units, num_layers, use_cudnn="auto", update_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if units <= 0 or num_layers <= 0:
            raise ValueError(f"units and num_layers must be positive, got {units}, {num_layers}")
        self.units = units
        self.num_layers = num_layers
        self.use_cudnn = use_cudnn
        self.update_dropout = update_dropout
        self.supports_masking = True
        self.cells = [
            LSTM(units, update_dropout=update_dropout, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                 name=f"lstm_{n}")
            for n in range(num_layers)
        ]

    def build(self, input_shape):
        features = input_shape[-1]
        for n, lstm in enumerate(self.cells):
            lstm.build((input_shape[0], input_shape[1], features + (self.units if n else 0)))

    def call(self, inputs, mask=None, initial_states=None, training=False):
        outputs, states, below = [], [], None
        for n, lstm in enumerate(self.cells):
            layer_input = inputs if below is None else ops.concatenate([inputs, below], axis=-1)
            initial_state = None if initial_states is None else list(initial_states[n])
            below, h, c = lstm(layer_input, mask=mask, initial_state=initial_state, training=training)
            outputs.append(below)
            states.append([h, c])
        return ops.concatenate(outputs, axis=-1), states

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "use_cudnn": self.use_cudnn, "update_dropout": self.update_dropout}
