"""ContextGRU against the Keras GRU it stands for: outputs, states, masks and gradients equal."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import ContextGRU


def pair(units, features, context_features, **options):
    """A ContextGRU and a `keras.layers.GRU(reset_after=False)` over [x_t; c] with the same weights."""
    keras.utils.set_random_seed(3)
    ours = ContextGRU(units, **options)
    ours.build((None, None, features), None if context_features is None else (None, context_features))
    # Non-zero biases, so that a bias added twice or forgotten shows.
    ours.cell.bias.assign(np.random.default_rng(1).normal(size=ours.cell.bias.shape).astype("float32"))
    plain = keras.layers.GRU(units, reset_after=False, **options)
    plain.build((None, None, features + (context_features or 0)))
    plain.set_weights(ours.get_weights())
    return ours, plain


def with_context(x, c):
    return np.concatenate([x, np.repeat(c[:, None], x.shape[1], axis=1)], axis=-1)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_outputs_states_and_gradients_equal_keras_gru_over_input_and_context(return_sequences, masked):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 6, 5)).astype("float32"))
    c = tf.constant(rng.normal(size=(3, 4)).astype("float32"))
    h0 = tf.constant(rng.normal(size=(3, 7)).astype("float32"))
    # Right-padded rows of 6, 3 and 1 steps; masked steps keep the state and repeat the last output.
    mask = tf.constant(np.arange(6)[None, :] < np.array([[6], [3], [1]])) if masked else None
    ours, plain = pair(7, 5, 4, return_sequences=return_sequences, return_state=True)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, c, h0])
        out, state = ours(x, context=c, initial_state=h0, mask=mask)
        expected, expected_state = plain(tf.concat([x, tf.repeat(c[:, None], 6, axis=1)], axis=-1), initial_state=h0,
                                         mask=mask)
        loss, expected_loss = (tf.reduce_sum(tf.sin(o)) + tf.reduce_sum(s ** 2)
                               for o, s in ((out, state), (expected, expected_state)))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    np.testing.assert_allclose(state, expected_state, atol=1e-5)
    for ours_grad, plain_grad in zip(tape.gradient(loss, [x, c, h0, *ours.trainable_variables]),
                                     tape.gradient(expected_loss, [x, c, h0, *plain.trainable_variables])):
        np.testing.assert_allclose(ours_grad, plain_grad, atol=1e-5)


def test_without_a_context_it_is_keras_gru():
    x = np.random.default_rng(2).normal(size=(2, 4, 3)).astype("float32")
    ours, plain = pair(5, 3, None, return_sequences=True)
    np.testing.assert_allclose(ours(x), plain(x), atol=1e-6)


def test_its_cell_steps_as_the_sequence_runs():
    rng = np.random.default_rng(4)
    x, c = rng.normal(size=(2, 3, 5)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    ours, _ = pair(6, 5, 4, return_sequences=True)
    h, steps = np.zeros((2, 6), "float32"), []
    for t in range(3):
        h, _ = ours.cell(np.concatenate([x[:, t], c], axis=-1), h)
        steps.append(h)
    np.testing.assert_allclose(np.stack(steps, axis=1), ours(x, context=c), atol=1e-6)


def test_a_context_is_required_exactly_when_built_with_one():
    ours, _ = pair(4, 3, 2)
    with pytest.raises(ValueError, match="with a context exactly when it was built with one"):
        ours(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match=r"does not take \{'dropout': 0.1\}"):
        ContextGRU(4, dropout=0.1)


def test_config_round_trip():
    layer = ContextGRU(4, return_sequences=True, name="decoder")
    again = ContextGRU.from_config(layer.get_config())
    assert again.units == 4 and again.return_sequences and not again.cell.reset_after
