"""zoo.layers.LSTM against the Keras LSTM it stands for: outputs, states, masks and gradients equal."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import LSTM
from zoo.layers.lstm import updates_kept

UNITS, FEATURES = 7, 5


def pair(**options):
    """A LSTM and a `keras.layers.LSTM` with the same weights (non-zero biases: one added twice shows)."""
    keras.utils.set_random_seed(3)
    ours = LSTM(UNITS, use_cudnn=False, **options)
    ours.build((None, None, FEATURES))
    ours.cell.bias.assign(np.random.default_rng(1).normal(size=ours.cell.bias.shape).astype("float32"))
    plain = keras.layers.LSTM(UNITS, use_cudnn=False, **options)
    plain.build((None, None, FEATURES))
    plain.set_weights(ours.get_weights())
    return ours, plain


def inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = tf.constant(rng.normal(size=(3, 6, FEATURES)).astype("float32"))
    state = [tf.constant(rng.normal(size=(3, UNITS)).astype("float32")) for _ in range(2)]
    # Right-padded rows of 6, 3 and 1 steps.
    mask = tf.constant(np.arange(6)[None, :] < np.array([[6], [3], [1]]))
    return x, state, mask


def outputs_and_gradients(layer, x, state, mask, training, graph):
    def run():
        with tf.GradientTape() as tape:
            tape.watch([x, *state])
            out = layer(x, initial_state=state or None, mask=mask, training=training)
            out = out if isinstance(out, (list, tuple)) else [out]
            # Weights that differ per output element, so that a gradient sent to the wrong step shows.
            loss = sum(tf.reduce_sum(tf.sin(o * (n + 1.0))) for n, o in enumerate(out))
        return list(out), list(tape.gradient(loss, [x, *state, *layer.trainable_variables]))

    return tf.function(run)() if graph else run()


@pytest.mark.parametrize("training", [True, False], ids=["written-out gradient", "automatic gradient"])
@pytest.mark.parametrize("options", [dict(return_sequences=True, return_state=True),
                                     dict(return_sequences=False, return_state=True),
                                     dict(return_sequences=True, go_backwards=True),
                                     dict(return_sequences=True, zero_output_for_mask=True)],
                         ids=["sequences", "last", "backwards", "zero output"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("with_state", [False, True], ids=["zero state", "initial state"])
def test_outputs_states_and_gradients_equal_keras_lstm(training, options, masked, with_state):
    x, state, mask = inputs()
    state, mask = (state if with_state else None), (mask if masked else None)
    ours, plain = pair(**options)
    ours_out, ours_grads = outputs_and_gradients(ours, x, state or [], mask, training, graph=False)
    plain_out, plain_grads = outputs_and_gradients(plain, x, state or [], mask, training, graph=False)
    for a, b in zip(ours_out, plain_out):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(ours_grads, plain_grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("all_real", [False, True], ids=["padded batch", "batch without padding"])
def test_in_a_graph_both_branches_of_the_mask_test_equal_keras(all_real):
    """In a tf.function the mask is tested at run time: a batch without padding skips the masked loop."""
    x, state, mask = inputs(1)
    mask = tf.ones_like(mask) if all_real else mask
    ours, plain = pair(return_sequences=True, return_state=True)
    ours_out, ours_grads = outputs_and_gradients(ours, x, state, mask, True, graph=True)
    plain_out, plain_grads = outputs_and_gradients(plain, x, state, mask, True, graph=True)
    for a, b in zip(ours_out + ours_grads, plain_out + plain_grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_padded_step_keeps_the_state_and_repeats_the_last_output():
    x, _, mask = inputs()
    ours, _ = pair(return_sequences=True, return_state=True)
    out, h, c = ours(x, mask=mask, training=True)
    short, h_short, c_short = ours(x[1:2, :3], training=True)  # the row of 3 real steps, unpadded
    np.testing.assert_allclose(out[1, :3], short[0], atol=1e-6)
    np.testing.assert_allclose(out[1, 3:], np.repeat(short[0, -1:], 3, axis=0), atol=1e-6)
    np.testing.assert_allclose(h[1], h_short[0], atol=1e-6)
    np.testing.assert_allclose(c[1], c_short[0], atol=1e-6)


def test_bidirectional_equals_keras_bidirectional():
    x, _, mask = inputs(2)
    ours, plain = pair(return_sequences=True)
    ours, plain = keras.layers.Bidirectional(ours), keras.layers.Bidirectional(plain)
    ours.build(x.shape), plain.build(x.shape)
    plain.set_weights(ours.get_weights())
    ours_out, ours_grads = outputs_and_gradients(ours, x, [], mask, True, graph=False)
    plain_out, plain_grads = outputs_and_gradients(plain, x, [], mask, True, graph=False)
    for a, b in zip(ours_out + ours_grads, plain_out + plain_grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_other_activations_take_the_automatic_gradient():
    x, state, mask = inputs(3)
    ours, plain = pair(return_sequences=True, activation="relu", recurrent_activation="hard_sigmoid")
    assert not ours.standard_activations
    ours_out, ours_grads = outputs_and_gradients(ours, x, state, mask, True, graph=False)
    plain_out, plain_grads = outputs_and_gradients(plain, x, state, mask, True, graph=False)
    for a, b in zip(ours_out + ours_grads, plain_out + plain_grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_its_cell_steps_as_the_sequence_runs():
    x, state, _ = inputs(4)
    ours, _ = pair(return_sequences=True, return_state=True)
    out, h, c = ours(x, initial_state=state)
    for t in range(x.shape[1]):
        step, state = ours.cell(x[:, t], state)
        np.testing.assert_allclose(step, out[:, t], atol=1e-6)
    np.testing.assert_allclose(state[0], h, atol=1e-6)
    np.testing.assert_allclose(state[1], c, atol=1e-6)


def test_keras_file_round_trip_and_keras_lstm_weights_load(tmp_path):
    x, _, mask = inputs(5)
    ours, plain = pair(return_sequences=True)
    model = keras.Sequential([keras.Input((None, FEATURES)), ours])
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.layers[0], LSTM)  # zoo's, not Keras's
    np.testing.assert_allclose(restored(x), model(x), atol=1e-6)
    # A Keras LSTM's weights file loads into this layer.
    keras.Sequential([keras.Input((None, FEATURES)), plain]).save_weights(os.path.join(tmp_path, "plain.weights.h5"))
    fresh = LSTM(UNITS, return_sequences=True)
    keras.Sequential([keras.Input((None, FEATURES)), fresh]).load_weights(os.path.join(tmp_path, "plain.weights.h5"))
    np.testing.assert_allclose(fresh(x, mask=mask), plain(x, mask=mask), atol=1e-6)


def test_dropout_inside_the_layer_is_refused():
    with pytest.raises(ValueError, match="does not take"):
        LSTM(4, recurrent_dropout=0.1)


def lstm_by_hand(layer, x, state, mask, update_masks):
    """Graves's equations step by step with g dropped by `update_masks` `[time, batch, units]`; a padded step keeps
    h and c and outputs the carried h."""
    kernel, recurrent_kernel, bias = layer.cell.kernel, layer.cell.recurrent_kernel, layer.cell.bias
    h, c = state
    outputs = []
    for t in range(x.shape[1]):
        i, f, g, o = tf.split(x[:, t] @ kernel + h @ recurrent_kernel + bias, 4, axis=-1)
        new_c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g) * update_masks[t]
        new_h = tf.sigmoid(o) * tf.tanh(new_c)
        real = mask[:, t, None]
        h, c = tf.where(real, new_h, h), tf.where(real, new_c, c)
        outputs.append(h)
    return [tf.stack(outputs, axis=1), h, c]


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_update_dropout_drops_g_in_training_with_its_gradient_written_out(masked):
    x, state, mask = inputs(6)
    mask = mask if masked else tf.ones(x.shape[:2], tf.bool)
    keras.utils.set_random_seed(3)
    ours = LSTM(UNITS, update_dropout=0.5, use_cudnn=False, return_sequences=True, return_state=True)
    ours.build((None, None, FEATURES))
    drawn = ours.update_mask(tf.zeros((6, 3, 4 * UNITS)))
    assert set(np.unique(drawn)) == {0.0, 2.0} and 0.35 < np.mean(drawn.numpy() == 0) < 0.65
    ours.update_mask = lambda steps: tf.constant(drawn.numpy())  # the same masks for the layer and the equations
    ours_out, ours_grads = outputs_and_gradients(ours, x, state, mask if masked else None, True, graph=True)
    with tf.GradientTape() as tape:
        tape.watch([x, *state])
        out = lstm_by_hand(ours, x, state, mask, drawn)
        loss = sum(tf.reduce_sum(tf.sin(o * (n + 1.0))) for n, o in enumerate(out))
    by_hand_grads = tape.gradient(loss, [x, *state, *ours.trainable_variables])
    for a, b in zip(ours_out + ours_grads, out + by_hand_grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_update_dropout_leaves_inference_and_kept_updates_unchanged():
    x, state, mask = inputs(7)
    ours, plain = pair(return_sequences=True)
    dropping = LSTM(UNITS, update_dropout=0.5, use_cudnn=False, return_sequences=True)
    dropping.build((None, None, FEATURES))
    dropping.set_weights(ours.get_weights())
    np.testing.assert_allclose(dropping(x, initial_state=state, mask=mask), plain(x, initial_state=state, mask=mask),
                               atol=1e-6)
    assert not np.allclose(dropping(x, training=True), plain(x, training=True), atol=1e-3)
    with updates_kept([dropping]):
        np.testing.assert_allclose(dropping(x, training=True), plain(x, training=True), atol=1e-6)
    assert LSTM.from_config(dropping.get_config()).update_dropout == 0.5


def test_update_dropout_out_of_range_or_on_cudnn_is_refused():
    with pytest.raises(ValueError, match=r"update_dropout must be in \[0, 1\), got 1.0"):
        LSTM(4, update_dropout=1.0)
    with pytest.raises(ValueError, match="cuDNN's LSTM has no update_dropout"):
        LSTM(4, update_dropout=0.1, use_cudnn=True)
