import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import SkipStackedRNN


@pytest.fixture(scope="module")
def stack():
    keras.utils.set_random_seed(5)
    layer = SkipStackedRNN(units=4, num_layers=3)
    layer.build((None, None, 2))
    return layer


X = np.random.default_rng(0).normal(size=(2, 5, 2)).astype("float32")


def test_shapes_and_states(stack):
    outputs, states = stack(X)
    assert outputs.shape == (2, 5, 12)
    assert len(states) == 3 and all(h.shape == c.shape == (2, 4) for h, c in states)
    # Layer n's block of the output is its hidden sequence; its last step is its state h.
    for n, (h, _) in enumerate(states):
        np.testing.assert_allclose(outputs.numpy()[:, -1, 4 * n: 4 * (n + 1)], h.numpy(), atol=1e-6)


def test_every_layer_sees_the_input_and_the_layer_below(stack):
    # Kernel of layer n > 0 reads [x_t; h^{n-1}_t]: 2 input features + 4 units.
    assert [lstm.cell.kernel.shape for lstm in stack.cells] == [(2, 16), (6, 16), (6, 16)]
    # Zeroing the rows that read x in the top layer changes its output: the skip connection is live.
    top = stack.cells[2].cell.kernel
    saved = top.numpy()
    before = stack(X)[0].numpy()[..., 8:]
    top.assign(np.concatenate([np.zeros_like(saved[:2]), saved[2:]]))
    after = stack(X)[0].numpy()[..., 8:]
    top.assign(saved)
    assert np.abs(before - after).max() > 1e-4


def test_layer_one_is_a_plain_lstm(stack):
    lstm = keras.layers.LSTM(4, return_sequences=True)
    lstm.build((None, None, 2))
    lstm.set_weights(stack.cells[0].get_weights())
    np.testing.assert_allclose(stack(X)[0].numpy()[..., :4], lstm(X).numpy(), atol=1e-6)


def test_going_on_from_returned_states_equals_one_long_call(stack):
    whole, _ = stack(X)
    first, states = stack(X[:, :3])
    rest, _ = stack(X[:, 3:], initial_states=states)
    np.testing.assert_allclose(np.concatenate([first, rest], axis=1), whole.numpy(), atol=1e-5)


def test_masked_steps_keep_the_state(stack):
    mask = np.array([[True] * 5, [True, True, True, False, False]])
    _, states = stack(X, mask=mask)
    _, short_states = stack(X[1:, :3])
    for (h, c), (h3, c3) in zip(states, short_states):
        np.testing.assert_allclose(h.numpy()[1], h3.numpy()[0], atol=1e-6)
        np.testing.assert_allclose(c.numpy()[1], c3.numpy()[0], atol=1e-6)


def test_gradients_reach_every_layer(stack):
    with tf.GradientTape() as tape:
        outputs, _ = stack(tf.constant(X))
        loss = tf.reduce_sum(outputs[:, -1] ** 2)
    grads = tape.gradient(loss, stack.trainable_variables)
    assert len(grads) == 9 and all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_config_round_trip():
    layer = SkipStackedRNN(8, 2, use_cudnn=False)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert (restored.units, restored.num_layers, restored.use_cudnn) == (8, 2, False)
    with pytest.raises(ValueError, match="positive"):
        SkipStackedRNN(0, 2)
