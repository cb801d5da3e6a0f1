"""Helpers the decoding loops share: checked scalars, the batch size, step histories, loop shape invariants."""

import tensorflow as tf


def step_history(like, fill, static_length=None):
    """Where a loop writes one value like `like` a step.

    A TensorArray that grows with the steps run or, with `static_length` (a
    Python int, for TFLite, which cannot lower growing arrays), a
    `[static_length, *like.shape]` tensor filled with `fill`.
    """
    if not static_length:
        return tf.TensorArray(like.dtype, size=0, dynamic_size=True)
    shape = like.shape.as_list() if like.shape.is_fully_defined() else tf.shape(like)  # static for TFLite
    return tf.fill(tf.concat([[static_length], shape], 0), tf.cast(fill, like.dtype))


def write_step(history, t, value):
    """`history` with step t's `value` written."""
    if isinstance(history, tf.TensorArray):
        return history.write(t, value)
    return tf.tensor_scatter_nd_update(history, [[t]], value[None])


def stacked(history):
    """The steps of a `step_history`, `[steps, ...]`."""
    return history.stack() if isinstance(history, tf.TensorArray) else history


def loop_invariants(loop_vars):
    """Shape invariants of `(step, tokens, model state, *decoder's own)` loop variables.

    The model state may change its leading (rows) dimension only; the
    decoder's tensors any dimension: their static sizes differ between the
    step before the loop and the loop when the batch or beam size is dynamic.
    """
    step, tokens, state, *search = loop_vars

    def any_shape(x):
        return None if isinstance(x, tf.TensorArray) else tf.TensorShape([None] * x.shape.rank)

    def any_rows(x):
        return tf.TensorShape([None]).concatenate(x.shape[1:])

    return (any_shape(step), any_shape(tokens), tf.nest.map_structure(any_rows, state),
            *tf.nest.map_structure(any_shape, search))


def at_least_one(value, name):
    """`value` as an int32 scalar that carries a check `value >= 1` naming `name`."""
    value = tf.cast(value, tf.int32)
    with tf.control_dependencies([tf.debugging.assert_greater_equal(value, 1, message=f"{name} must be >= 1")]):
        return tf.identity(value)


def batch_size_of(state):
    tensors = tf.nest.flatten(state)
    if not tensors:
        raise ValueError("initial_state must hold at least one tensor: its leading dimension is the batch size")
    return tf.shape(tensors[0])[0]
