"""Graves 2013 §5: the soft window's equations on hand-computed cases, the windowed LSTM, the synthesis network."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import SoftWindow, WindowedLSTM
from zoo.layers.mdn import MixtureDensityLoss
from zoo.models import GravesSynthesisModel

ALPHABET = 6  # [PAD], [UNK] and four characters


def one_hot(ids, size=ALPHABET):
    return np.eye(size, dtype=np.float32)[np.asarray(ids)]


def fixed_window(alpha, beta, kappa_step, components=1, features=4):
    """A SoftWindow whose (α, β, exp(κ̂)) do not depend on h: zero kernel, the logs as biases."""
    window = SoftWindow(components)
    window.build((None, features))
    bias = np.log(np.array([alpha] * components + [beta] * components + [kappa_step] * components, np.float32))
    window.parameters.set_weights([np.zeros((features, 3 * components), np.float32), bias])
    return window


def test_window_equations_on_a_hand_computed_case():
    # α = 2, β = 0.5, κ = 0.5 + 1.5 = 2: φ(u) = 2 exp(-0.5 (2 - u)²).
    window = fixed_window(2.0, 0.5, 1.5)
    characters = one_hot([[2, 3, 4], [5, 2, 0]])  # "abc", "da" and a padded position
    mask = np.array([[True, True, True], [True, True, False]])
    w, kappa, phi = window(np.ones((2, 4), np.float32), np.full((2, 1), 0.5, np.float32), characters, mask)
    np.testing.assert_allclose(kappa, [[2.0], [2.0]], rtol=1e-6)
    near, at, far = 2 * math.exp(-0.5), 2.0, 2 * math.exp(-2.0)
    # u = 1, 2, 3, then each row's U + 1 (4 for "abc", 3 for "da").
    np.testing.assert_allclose(phi, [[near, at, near, far], [near, at, 0.0, near]], rtol=1e-5)
    np.testing.assert_allclose(w, [[0, 0, near, at, near, 0], [0, 0, at, 0, 0, near]], rtol=1e-5, atol=1e-7)


def test_window_sums_its_components_and_only_moves_forwards():
    window = SoftWindow(3)
    characters = one_hot([[2, 3, 4, 5]])
    kappa, previous = np.zeros((1, 3), np.float32), None
    for hidden in np.random.default_rng(0).normal(size=(5, 1, 4)).astype(np.float32):
        _, kappa, phi = window(hidden, kappa, characters, np.ones((1, 4), bool))
        if previous is not None:
            assert np.all(kappa > previous)
        previous = kappa.numpy()
    alpha_hat, beta_hat, _ = np.split(window.parameters(hidden).numpy(), 3, axis=-1)
    expected = sum(np.exp(alpha_hat[0, k]) * np.exp(-np.exp(beta_hat[0, k]) * (kappa[0, k] - np.arange(1, 6)) ** 2)
                   for k in range(3))
    np.testing.assert_allclose(phi[0], expected, rtol=1e-5)


def test_windowed_lstm_scan_equals_its_steps_and_keeps_state_on_padding():
    keras.utils.set_random_seed(1)
    layer = WindowedLSTM(units=6, num_components=2)
    characters, character_mask = one_hot([[2, 3, 4], [5, 2, 0]]), np.array([[1, 1, 1], [1, 1, 0]], bool)
    strokes = np.random.default_rng(1).normal(size=(2, 5, 3)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    h, w, phi, state = layer(strokes, characters, character_mask, point_mask=mask)
    step_state = layer.zero_state(2, ALPHABET)
    for t in range(5):
        step_h, step_phi, new_state = layer.step(strokes[:, t], step_state, tf.constant(characters), character_mask)
        np.testing.assert_allclose(h[0, t], step_h[0], atol=1e-5)
        np.testing.assert_allclose(phi[0, t], step_phi[0], atol=1e-5)
        np.testing.assert_allclose(w[0, t], new_state[3][0], atol=1e-5)
        step_state = [tf.where(mask[:, t:t + 1], new, old) for new, old in zip(new_state, step_state)]
    for final, stepped in zip(state, step_state):
        np.testing.assert_allclose(final, stepped, atol=1e-5)
    # Row 1 ended after 3 points: its state is the one after its third point.
    _, _, _, short = layer(strokes[1:, :3], characters[1:], character_mask[1:])
    for final, alone in zip(state, short):
        np.testing.assert_allclose(final[1], alone[0], atol=1e-5)


def small_model(seed=2):
    keras.utils.set_random_seed(seed)
    model = GravesSynthesisModel(ALPHABET, units=8, num_layers=3, num_components=2, window_components=2)
    model(model.example_input())
    return model


def test_one_step_decoding_equals_the_whole_sequence():
    model = small_model()
    text = np.array([[2, 3, 4], [5, 2, 0]], np.int32)
    strokes = np.random.default_rng(2).normal(size=(2, 6, 3)).astype(np.float32)
    y_hat, alignment = model((strokes, text), return_alignment=True)
    state = model.initial_state(text)
    for t in range(6):
        output, state, phi = model.decode_step(tf.constant(strokes[:, t]), state)
        np.testing.assert_allclose(output["y_hat"], y_hat[:, t], atol=1e-5)
        np.testing.assert_allclose(phi, alignment[:, t], atol=1e-5)


def window_model(kappa_step):
    """A synthesis network whose window advances `kappa_step` characters a point, whatever it writes."""
    model = small_model()
    kernel, bias = model.windowed.window.parameters.get_weights()
    bias[4:] = np.log(kappa_step)
    model.windowed.window.parameters.set_weights([np.zeros_like(kernel), bias])
    return model


def test_sampling_stops_when_the_window_has_passed_the_last_character():
    text = np.array([[2, 3, 4], [5, 0, 0]], np.int32)
    # κ moves 0.4 a point (α = β = 1 for both components): φ(U + 1) overtakes every φ(u ≤ U) once κ
    # passes U + 1/2, at point ⌈(U + 0.5) / 0.4⌉: 9 for "abc", 4 for "d".
    out = window_model(0.4).sample(text, max_steps=40, bias=0.5, seed=[3, 4])
    assert out["finished"].numpy().tolist() == [True, True]
    assert out["lengths"].numpy().tolist() == [9, 4]
    assert not np.any(out["strokes"].numpy()[1, out["lengths"][1]:])  # nothing after a row's end
    crawling = window_model(0.01).sample(text, max_steps=12, bias=0.5, seed=[3, 4])
    assert crawling["finished"].numpy().tolist() == [False, False] and crawling["lengths"].numpy().tolist() == [12, 12]


def test_a_row_writes_the_same_whatever_the_rows_beside_it():
    model = small_model()
    together = model.sample(np.array([[2, 3, 4], [5, 2, 0]], np.int32), max_steps=20, bias=[0.5, 2.0], seed=[7, 8])
    alone = model.sample(np.array([[5, 2]], np.int32), max_steps=20, bias=2.0, seed=8)
    length = int(alone["lengths"][0])
    assert int(together["lengths"][1]) == length
    np.testing.assert_allclose(together["strokes"][1, :length], alone["strokes"][0], atol=1e-5)
    again = model.sample(np.array([[5, 2]], np.int32), max_steps=20, bias=2.0, seed=8)
    np.testing.assert_array_equal(again["strokes"], alone["strokes"])


def test_training_lowers_the_loss_and_gradients_reach_the_window():
    model = small_model()
    text = np.array([[2, 3, 4], [5, 2, 0]], np.int32)
    targets = np.random.default_rng(3).normal(size=(2, 6, 3)).astype(np.float32)
    targets[..., 2] = targets[..., 2] > 1
    inputs = np.concatenate([np.tile([[[0.0, 0.0, 1.0]]], (2, 1, 1)), targets[:, :-1]], axis=1).astype(np.float32)
    loss = MixtureDensityLoss(2)
    with tf.GradientTape() as tape:
        value = loss(targets, model((inputs, text)))
    gradients = tape.gradient(value, model.windowed.window.trainable_variables)
    assert all(float(tf.reduce_max(tf.abs(g))) > 0 for g in gradients)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=loss)
    history = model.fit((inputs, text), targets, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.5


def test_config_round_trip_and_save(tmp_path):
    model = small_model()
    path = str(tmp_path / "synthesis.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    inputs = (np.zeros((1, 4, 3), np.float32), np.array([[2, 3]], np.int32))
    np.testing.assert_allclose(loaded(inputs), model(inputs), atol=1e-6)


@pytest.mark.parametrize("alphabet_size, layers", [(2, 3), (6, 0)])
def test_bad_sizes_are_named(alphabet_size, layers):
    with pytest.raises(ValueError, match="alphabet_size|num_layers"):
        GravesSynthesisModel(alphabet_size, num_layers=layers)


def test_priming_reads_the_style_strokes_as_training_does():
    """The primed state is the state after teacher-forcing the style points: the next step's ŷ matches the
    whole-sequence call on style + one more point; padding after a row's style points changes nothing."""
    model = small_model()
    text = np.array([[2, 3, 1, 4], [5, 2, 1, 3]], np.int32)  # style text, a space ([UNK] here), new text
    style = np.random.default_rng(5).normal(size=(2, 5, 3)).astype(np.float32)
    lengths = np.array([5, 3])
    state, last = model.prime(style, lengths, text)
    np.testing.assert_allclose(last, style[[0, 1], [4, 2]])
    output, _, _ = model.decode_step(tf.constant(last), state)
    for row in range(2):
        points = style[row:row + 1, :lengths[row]]
        inputs = np.concatenate([[[[0.0, 0.0, 1.0]]], points], axis=1).astype(np.float32)
        whole = model((inputs, text[row:row + 1]))
        np.testing.assert_allclose(output["y_hat"][row], whole[0, -1], atol=1e-5)
    primed = model.sample(text, max_steps=10, bias=1.0, seed=[1, 2], state=state, first_point=last)
    assert primed["strokes"].shape[0] == 2
