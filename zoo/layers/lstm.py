"""Keras's LSTM with the input products taken out of the time loop and a hand-written backward pass."""

import contextlib

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(keras.layers.LSTM):
    """`keras.layers.LSTM` (Hochreiter & Schmidhuber 1997; Graves 2013 eqs. 7-11 without peepholes), with less work a step.

        z_t = W x_t + U h_{t-1} + b,    [i, f, g, o] = [σ, σ, tanh, σ](z_t)
        c_t = f ⊙ c_{t-1} + i ⊙ g,      h_t = o ⊙ tanh(c_t)

    A drop-in for `keras.layers.LSTM`: same weights, masking and outputs, and
    the same class name, because Keras names a list's layers in saved files by
    their class (`lstm`, `lstm_1`, ...), so checkpoints and `.keras` files of
    models built on Keras's LSTM load; `cell` steps it as Keras's cell does.
    What differs is where the work is done, to do less of it a step on CPU:
    - W x_t + b for every step is one matrix product before the loop, which
      keeps only U h_{t-1} and the gates;
    - in training, the backward pass is written out: the loop back through
      time carries (∂h, ∂c) and stacks every step's ∂z_t, and the gradient
      of U is one matrix product of the stacked h_{t-1} and ∂z_t after it
      (automatic differentiation of the loop adds one small product a step);
    - in training, a batch without padding skips the masking.

    A padded step keeps the state (h, c) and repeats the previous output, or
    outputs zeros with `zero_output_for_mask` (set by `Bidirectional`).

    With `update_dropout` p, training drops the cell update g, a new mask m
    each step (Semeniuta et al. 2016, "Recurrent Dropout without Memory
    Loss"): c_t = f ⊙ c_{t-1} + i ⊙ g ⊙ m_t, m_t ∈ {0, 1/(1-p)}. The memory
    c_{t-1} is never dropped, and inference is the LSTM above unchanged.

    Args:
        units: hidden units.
        update_dropout: in training, the rate p of the dropout on g.
        **kwargs: `keras.layers.LSTM`'s, but `dropout`, `recurrent_dropout`,
            `stateful` and `unroll`, which this layer does not take (the zoo
            drops out between layers). Where Keras's LSTM would run cuDNN
            (`use_cudnn` True, or "auto" with a GPU and no `update_dropout`),
            this layer runs Keras's LSTM as it is.

    Call arguments:
        sequences: `[batch, time, features]`.
        initial_state, mask, training: as `keras.layers.LSTM`'s.

    Returns:
        As `keras.layers.LSTM`'s: the last output or all outputs
        (`return_sequences`), and the last `h`, `c` (`return_state`).

    Example:

    >>> import numpy as np, keras
    >>> import zoo.layers
    >>> x = np.random.default_rng(0).random((2, 5, 3), "float32")
    >>> lstm = zoo.layers.LSTM(4, return_sequences=True)
    >>> plain = keras.layers.LSTM(4, return_sequences=True)
    >>> _, _ = lstm(x), plain(x)
    >>> plain.set_weights(lstm.get_weights())
    >>> bool(np.allclose(lstm(x), plain(x), atol=1e-6))
    True
    """

    def __init__(self, units, update_dropout=0.0, **kwargs):
        unsupported = {name: kwargs[name] for name in ("dropout", "recurrent_dropout", "stateful", "unroll")
                       if kwargs.get(name)}
        if unsupported:
            raise ValueError(f"zoo.layers.LSTM does not take {unsupported}")
        if not 0.0 <= update_dropout < 1.0:
            raise ValueError(f"update_dropout must be in [0, 1), got {update_dropout}")
        if update_dropout and kwargs.get("use_cudnn") is True:
            raise ValueError("cuDNN's LSTM has no update_dropout: pass use_cudnn='auto' or False")
        super().__init__(units, **kwargs)
        self.update_dropout = update_dropout
        self.drops = True  # `updates_kept` turns the dropout off for a while
        # The written-out gradient is the derivative of these two activations.
        self.standard_activations = (self.cell.activation is keras.activations.tanh
                                     and self.cell.recurrent_activation is keras.activations.sigmoid)

    def runs_cudnn(self):
        return self.use_cudnn is True or (self.use_cudnn == "auto" and not self.update_dropout
                                          and bool(tf.config.list_logical_devices("GPU")))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.runs_cudnn():
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        projected = ops.matmul(sequences, self.cell.kernel)
        if self.use_bias:
            projected = projected + self.cell.bias
        # RNN.call handles the initial state and the outputs' form; its loop is `inner_loop` below.
        return super().call(projected, initial_state=initial_state, mask=mask, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The recurrence over the projected inputs `[batch, time, 4 * units]` → (last output, outputs, [h, c])."""
        if self.runs_cudnn():
            return super().inner_loop(sequences, initial_state, mask, training)
        steps = tf.transpose(sequences, [1, 0, 2])
        h0, c0 = (tf.convert_to_tensor(state) for state in initial_state)
        recurrent_kernel = tf.convert_to_tensor(self.cell.recurrent_kernel)
        real = None if mask is None else tf.transpose(tf.cast(mask, tf.bool), [1, 0])
        if self.go_backwards:
            steps = tf.reverse(steps, [0])
            real = None if real is None else tf.reverse(real, [0])
        update_masks = self.update_mask(steps) if training and self.drops and self.update_dropout else None

        if real is None:
            states, h, c = self._recurrence(steps, h0, c0, recurrent_kernel, None, update_masks, training)
            outputs = states
        else:
            def unmasked():
                return self._recurrence(steps, h0, c0, recurrent_kernel, None, update_masks, training)

            def masked():
                return self._recurrence(steps, h0, c0, recurrent_kernel, real, update_masks, training)

            # In training a batch without padding skips the masking; not in inference, whose graphs go to TFLite,
            # which cannot convert a loop inside a branch.
            states, h, c = tf.cond(tf.reduce_all(real), unmasked, masked) if training else masked()
            # A padded step outputs zeros (zero_output_for_mask) or repeats the last real output, which is the
            # carried h once a real step has come and zeros before (Keras's masked loop starts from zeros).
            shown = real if self.zero_output_for_mask else tf.cast(tf.cumsum(tf.cast(real, tf.int32), 0), tf.bool)
            outputs = tf.where(shown[:, :, None], states, tf.zeros_like(states))
        outputs = tf.transpose(outputs, [1, 0, 2])
        return outputs[:, -1], (outputs if self.return_sequences else outputs[:, -1]), [h, c]

    def update_mask(self, steps):
        """The dropout mask m_t of g for every step `[time, batch, units]`: 0 or 1 / (1 - update_dropout)."""
        ones = tf.ones(tf.concat([tf.shape(steps)[:2], [self.units]], axis=0), steps.dtype)
        return keras.random.dropout(ones, self.update_dropout, seed=self.cell.seed_generator)

    def _recurrence(self, steps, h0, c0, recurrent_kernel, real, update_masks, training):
        """(every step's carried h `[time, batch, units]`, last h, last c), with the written-out gradient in training."""
        if training and self.standard_activations:
            return _lstm_recurrence(steps, h0, c0, recurrent_kernel, real, update_masks)
        return _forward(steps, h0, c0, recurrent_kernel, real, update_masks, self.cell.activation,
                        self.cell.recurrent_activation)

    def get_config(self):
        return {**super().get_config(), "update_dropout": self.update_dropout}


@contextlib.contextmanager
def updates_kept(layers):
    """In this context the `LSTM`s of `layers` drop no update in training: their training path (its written-out
    backward pass) on the network as it predicts, as dynamic evaluation needs. Trace functions inside it."""
    lstms = [layer for layer in layers if isinstance(layer, LSTM)]
    for lstm in lstms:
        lstm.drops = False
    try:
        yield
    finally:
        for lstm in lstms:
            lstm.drops = True


def _forward(steps, h0, c0, recurrent_kernel, real, update_masks=None, activation=tf.tanh,
             recurrent_activation=tf.sigmoid, keep_gates=False):
    """The loop → (carried h each step, last h, last c), and with `keep_gates` each step's gates [i, f, g, o], new
    cell (before masking) and carried cell, which the backward pass reads. `update_masks`: None or the update
    dropout's masks `[time, batch, units]`."""
    units = recurrent_kernel.shape[0]

    def step(carry, inputs):
        h, c = carry[0], carry[1]
        x, keep, update_mask = _step_elements(inputs, real, update_masks)
        z = x + tf.matmul(h, recurrent_kernel)
        i = recurrent_activation(z[:, :units])
        f = recurrent_activation(z[:, units: 2 * units])
        g = activation(z[:, 2 * units: 3 * units])
        o = recurrent_activation(z[:, 3 * units:])
        new_c = f * c + i * (g if update_mask is None else g * update_mask)
        new_h = o * activation(new_c)
        carried_h, carried_c = new_h, new_c
        if keep is not None:
            carried_h, carried_c = tf.where(keep[:, None], new_h, h), tf.where(keep[:, None], new_c, c)
        return (carried_h, carried_c, tf.concat([i, f, g, o], axis=-1), new_c) if keep_gates else (carried_h, carried_c)

    elements = _elements(steps, real, update_masks)
    if not keep_gates:
        hs, cs = tf.scan(step, elements, initializer=(h0, c0))
        return hs, hs[-1], cs[-1]
    gates = tf.zeros_like(tf.concat([h0] * 4, axis=-1))
    hs, cs, gates, new_cs = tf.scan(step, elements, initializer=(h0, c0, gates, c0))
    return hs, hs[-1], cs[-1], gates, new_cs, cs


def _elements(steps, real, update_masks):
    """What the loop reads a step: the projected inputs, and the padding and dropout masks where there are some."""
    return (steps,) + tuple(masks for masks in (real, update_masks) if masks is not None)


def _step_elements(inputs, real, update_masks):
    """A step's (x, keep or None, update mask or None) from what `_elements` gave the loop."""
    inputs = list(inputs)
    x = inputs.pop(0)
    keep = inputs.pop(0) if real is not None else None
    return x, keep, inputs.pop(0) if update_masks is not None else None


def _lstm_recurrence(steps, h0, c0, recurrent_kernel, real, update_masks=None):
    """`_forward` with its gradient written out (class docstring); `real` is None or `[time, batch]` booleans,
    `update_masks` None or the update dropout's masks."""

    @tf.custom_gradient
    def recurrence(steps, h0, c0, recurrent_kernel):
        hs, h, c, gates, new_cs, cs = _forward(steps, h0, c0, recurrent_kernel, real, update_masks,
                                               keep_gates=True)
        units = recurrent_kernel.shape[0]

        def gradient(d_hs, d_h, d_c):
            previous_h = tf.concat([h0[None], hs[:-1]], axis=0)
            previous_c = tf.concat([c0[None], cs[:-1]], axis=0)
            transposed_kernel = tf.transpose(recurrent_kernel)

            def back(carry, inputs):
                dh, dc = carry[0], carry[1]
                d_out, gate, new_c, prev_c = inputs[:4]
                _, keep, update_mask = _step_elements((None,) + tuple(inputs[4:]), real, update_masks)
                dh = dh + d_out
                i, f, g, o = (gate[:, n * units: (n + 1) * units] for n in range(4))
                tanh_c = tf.tanh(new_c)
                d_new_c = dc + dh * o * (1 - tanh_c * tanh_c)
                d_update = d_new_c if update_mask is None else d_new_c * update_mask  # ∂c/∂g = i ⊙ m
                update = g if update_mask is None else g * update_mask
                dz = tf.concat([d_new_c * update * i * (1 - i), d_new_c * prev_c * f * (1 - f),
                                d_update * i * (1 - g * g), dh * tanh_c * o * (1 - o)], axis=-1)
                d_prev_h, d_prev_c = tf.matmul(dz, transposed_kernel), d_new_c * f
                if keep is not None:  # a padded step passed h and c through unchanged
                    keep = keep[:, None]
                    dz = tf.where(keep, dz, tf.zeros_like(dz))
                    d_prev_h, d_prev_c = tf.where(keep, d_prev_h, dh), tf.where(keep, d_prev_c, dc)
                return d_prev_h, d_prev_c, dz

            # d_h and d_c (the last state's) start the carry; the last step's carried h is also hs[-1].
            elements = (d_hs, gates, new_cs, previous_c) + _elements(steps, real, update_masks)[1:]
            d_prev_hs, d_prev_cs, dzs = tf.scan(back, elements, initializer=(d_h, d_c, tf.zeros_like(gates[0])),
                                                reverse=True)
            flat_dz = tf.reshape(dzs, [-1, 4 * units])
            d_kernel = tf.matmul(tf.reshape(previous_h, [-1, units]), flat_dz, transpose_a=True)
            return dzs, d_prev_hs[0], d_prev_cs[0], d_kernel

        return (hs, h, c), gradient

    return recurrence(steps, h0, c0, recurrent_kernel)
