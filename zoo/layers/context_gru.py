"""A reset-before GRU whose every step also sees a constant context, with its input work hoisted out of the loop."""

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class ContextGRU(keras.layers.GRU):
    """Cho et al. 2014's GRU (§2.3, reset gate before the recurrent matrix), optionally fed a context c at every step.

    With x_t the step's input and c a vector constant over the sequence
    (Cho's decoder: the source summary), every gate sees both,

        z_t = σ(W_z x_t + C_z c + U_z h_{t-1} + b_z)
        r_t = σ(W_r x_t + C_r c + U_r h_{t-1} + b_r)
        h̃_t = tanh(W x_t + C c + U (r_t ⊙ h_{t-1}) + b)
        h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t

    which is `keras.layers.GRU(reset_after=False)` over [x_t; c], with the
    same weights (`kernel` = [W; C] stacked by rows, `recurrent_kernel`,
    `bias`): checkpoints of one load into the other, and `cell` steps it as
    Keras's GRU cell does. What differs is the work inside the time loop:
    W x_t for every step is one matrix product before the loop, C c one
    product per sequence, and the loop keeps only the recurrent products.

    Args:
        units: hidden units.
        **kwargs: `keras.layers.GRU`'s, but `reset_after` (always False),
            `dropout`, `recurrent_dropout`, `go_backwards`, `stateful`,
            `unroll` and `zero_output_for_mask`, which this layer does not take.

    Call arguments:
        sequences: `[batch, time, features]`.
        context: optional `[batch, context_features]`, seen at every step; a
            layer built with a context must be called with one.
        initial_state, mask, training: as `keras.layers.GRU`'s.

    Returns:
        As `keras.layers.GRU`'s: the last output or all outputs
        (`return_sequences`), and the last state (`return_state`).

    Example:

    >>> import numpy as np
    >>> from zoo.layers import ContextGRU
    >>> gru = ContextGRU(4, return_sequences=True)
    >>> x, c = np.ones((2, 5, 3), "float32"), np.ones((2, 6), "float32")
    >>> tuple(gru(x, context=c).shape), tuple(gru.cell.kernel.shape)  # kernel over [x_t; c]
    ((2, 5, 4), (9, 12))
    >>> import keras
    >>> plain = keras.layers.GRU(4, reset_after=False, return_sequences=True)
    >>> _ = plain(np.concatenate([x, np.repeat(c[:, None], 5, axis=1)], axis=-1))
    >>> plain.set_weights(gru.get_weights())
    >>> bool(np.allclose(plain(np.concatenate([x, np.repeat(c[:, None], 5, axis=1)], axis=-1)), gru(x, context=c),
    ...                  atol=1e-6))
    True
    """

    def __init__(self, units, **kwargs):
        unsupported = {name: kwargs[name] for name in ("dropout", "recurrent_dropout", "go_backwards", "stateful",
                                                       "unroll", "zero_output_for_mask", "reset_after") if kwargs.get(name)}
        if unsupported:
            raise ValueError(f"ContextGRU does not take {unsupported}")
        kwargs.pop("reset_after", None)
        super().__init__(units, reset_after=False, **kwargs)

    def build(self, sequences_shape, context_shape=None, initial_state_shape=None):
        self.sequence_features = sequences_shape[-1]
        features = self.sequence_features + (context_shape[-1] if context_shape is not None else 0)
        super().build((*sequences_shape[:-1], features), initial_state_shape)

    def call(self, sequences, context=None, initial_state=None, mask=None, training=False):
        if (context is None) != (self.cell.kernel.shape[0] == self.sequence_features):
            raise ValueError("ContextGRU: call it with a context exactly when it was built with one")
        kernel = self.cell.kernel
        projected = ops.matmul(sequences, kernel[: self.sequence_features])
        if context is not None:
            projected = projected + ops.matmul(context, kernel[self.sequence_features:])[:, None]
        if self.use_bias:
            projected = projected + self.cell.bias
        # RNN.call handles the initial state, the mask and the outputs' form; its loop is `inner_loop` below.
        return super().call(projected, initial_state=initial_state, mask=mask, training=training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The recurrence over the projected inputs `[batch, time, 3 * units]` → (last output, outputs, states)."""
        units = self.units
        recurrent_gates = self.cell.recurrent_kernel[:, : 2 * units]  # sliced once, not at every step
        recurrent_candidate = self.cell.recurrent_kernel[:, 2 * units:]
        h0 = initial_state[0]
        steps = tf.transpose(sequences, [1, 0, 2])

        def step(h, x):
            gates = self.recurrent_activation(x[:, : 2 * units] + tf.matmul(h, recurrent_gates))
            z, r = gates[:, :units], gates[:, units:]
            candidate = self.activation(x[:, 2 * units:] + tf.matmul(r * h, recurrent_candidate))
            return z * h + (1 - z) * candidate

        def masked_step(h, inputs):
            x, real = inputs
            # A padded step keeps the state and repeats the last output (Keras's masking, zero_output_for_mask=False).
            return tf.where(real[:, None], step(h, x), h)

        if mask is None:
            outputs = tf.scan(step, steps, initializer=h0)
        else:
            outputs = tf.scan(masked_step, (steps, tf.transpose(tf.cast(mask, tf.bool), [1, 0])), initializer=h0)
        outputs = tf.transpose(outputs, [1, 0, 2])
        last = outputs[:, -1]
        return last, (outputs if self.return_sequences else last), [last]
