"""The synthesis `.tflite` cell: a device loop over it writes what the Keras model's `decode_step` writes, and
draws each point from the uniform numbers it is given as the model's sampler does."""

import os

import keras
import numpy as np
import pytest

from conftest import run_tflite, tflite_interpreter
from zoo import export, text
from zoo.export.synthesis import SYNTHESIS_TFLITE
from zoo.models import GravesSynthesisModel
from zoo.models.graves_synthesis import PEN_UP

ALPHABET = ["[PAD]", "[UNK]", " ", "a", "b", "c"]
MEAN, STD = (0.5, 0.0), (2.0, 2.0)
TEXT_IDS = [3, 4, 2, 1, 5]  # "ab ?c": a character outside the alphabet is [UNK]
STEPS = 10
STATE_KEYS = ["h_0", "c_0", "kappa", "w", "h_1", "c_1"]  # decode_step's names of the .tflite's state inputs
STATE_NAMES = ["state_0_h", "state_0_c", "kappa", "window", "state_1_h", "state_1_c"]


def tiny_model(units=8, seed=5):
    keras.utils.set_random_seed(seed)
    model = GravesSynthesisModel(len(ALPHABET), units=units, num_layers=2, num_components=2, window_components=2)
    model(model.example_input())
    return model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    path = export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), MEAN, STD,
                                   str(tmp_path_factory.mktemp("synthesis")))
    with open(os.path.join(path, export.EXTRA_DIR, SYNTHESIS_TFLITE), "rb") as f:
        return path, f.read()


def padded(ids, length=export.MAX_TEXT_CHARACTERS):
    row = np.zeros((1, length), np.int32)
    row[0, : len(ids)] = ids
    return row


def lite_step(flatbuffer, point, char_ids, states, bias=1.0, uniforms=(0.3, 0.6, 0.2, 0.9)):
    """One run of the cell: `(ŷ, finished, φ, drawn point, the same in data units, new states)`, states as
    `{decode_step name: array}`."""
    out = run_tflite(flatbuffer, {"point": point, "char_ids": char_ids, "bias": np.array([bias], np.float32),
                                  "uniforms": np.array([uniforms], np.float32),
                                  **{name: states[key] for name, key in zip(STATE_NAMES, STATE_KEYS)}})
    return out[0], out[1], out[2], out[3], out[4], dict(zip(STATE_KEYS, out[5:]))


def keras_step(model, point, char_ids, states):
    state = {**model.initial_state(char_ids), **states}
    output, new_state, phi = model.decode_step(point, state)
    return (output["y_hat"].numpy(), output["finished"].numpy(), phi.numpy(),
            {key: new_state[key].numpy() for key in STATE_KEYS})


def zero_states(model, char_ids):
    state = model.initial_state(char_ids)
    return {key: np.asarray(state[key], np.float32) for key in STATE_KEYS}


def test_the_cell_has_the_documented_inputs_and_outputs(model, exported):
    interpreter = tflite_interpreter(exported[1])
    inputs = {export.tflite_input_name(d): (d["shape"].tolist(), np.dtype(d["dtype"]).name)
              for d in interpreter.get_input_details()}
    u = export.MAX_TEXT_CHARACTERS
    assert inputs == {"point": ([1, 3], "float32"), "char_ids": ([1, u], "int32"), "bias": ([1], "float32"),
                      "uniforms": ([1, 4], "float32"),
                      "state_0_h": ([1, 8], "float32"), "state_0_c": ([1, 8], "float32"),
                      "kappa": ([1, 2], "float32"), "window": ([1, len(ALPHABET)], "float32"),
                      "state_1_h": ([1, 8], "float32"), "state_1_c": ([1, 8], "float32")}
    outputs = [(d["shape"].tolist(), np.dtype(d["dtype"]).name) for d in export.tflite_outputs(interpreter)]
    assert outputs == [([1, 1 + 6 * 2], "float32"), ([1], "float32"), ([1, u], "float32"),
                       ([1, 3], "float32"), ([1, 3], "float32"),
                       ([1, 8], "float32"), ([1, 8], "float32"), ([1, 2], "float32"),
                       ([1, len(ALPHABET)], "float32"), ([1, 8], "float32"), ([1, 8], "float32")]


def test_a_device_loop_matches_keras_decode_step_at_every_step(model, exported):
    flatbuffer = exported[1]
    char_ids = padded(TEXT_IDS)
    lite_states = keras_states = zero_states(model, char_ids)
    point = np.array([PEN_UP], np.float32)
    uniforms = np.random.default_rng(2).random((STEPS, 4)).astype(np.float32)
    for t in range(STEPS):
        y_hat, finished, phi, drawn, in_data_units, lite_states = lite_step(flatbuffer, point, char_ids,
                                                                             lite_states, 1.0, uniforms[t])
        k_y_hat, k_finished, k_phi, keras_states = keras_step(model, point, char_ids, keras_states)
        np.testing.assert_allclose(y_hat, k_y_hat, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(phi, k_phi, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_array_equal(finished, k_finished.astype(np.float32), err_msg=f"step {t}")
        for key in STATE_KEYS:
            np.testing.assert_allclose(lite_states[key], keras_states[key], atol=1e-5, err_msg=f"step {t} {key}")
        assert not phi[0, len(TEXT_IDS):].any()  # padded positions are never read
        # The cell draws the next point as the Keras model's sampler does from the same numbers.
        k_drawn = model.mixture_density.sample_from_uniforms(k_y_hat, 1.0, uniforms[t: t + 1]).numpy()
        np.testing.assert_allclose(drawn, k_drawn, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(in_data_units, drawn * [*STD, 1.0] + [*MEAN, 0.0], atol=1e-5)
        point = drawn
    assert np.any(lite_states["kappa"] > 0) and np.any(lite_states["w"] != 0)


def hand_drawn_point(y_hat, bias, uniforms, m=2):
    """Eqs. 61-62 by hand from ŷ: the component j whose cumulative weight first exceeds u0, Box–Muller's
    normals from u1 and u2, end of stroke where u3 < e; returns (the point, j)."""
    y, (u0, u1, u2, u3) = y_hat[0].astype(np.float64), np.asarray(uniforms, np.float32).astype(np.float64)
    weights = np.exp(y[1: 1 + m] * (1 + bias))
    weights /= weights.sum()
    j = int(np.argmax(np.cumsum(weights) > u0))
    sigma1, sigma2 = np.exp(y[1 + 3 * m + j] - bias), np.exp(y[1 + 4 * m + j] - bias)
    rho = np.tanh(y[1 + 5 * m + j])
    z1 = np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2)
    z2 = np.sqrt(-2 * np.log(1 - u1)) * np.sin(2 * np.pi * u2)
    end = float(u3 < 1 / (1 + np.exp(y[0])))
    return np.array([y[1 + m + j] + sigma1 * z1, y[1 + 2 * m + j] + sigma2 * (rho * z1 + np.sqrt(1 - rho**2) * z2),
                     end]), j


@pytest.mark.parametrize("bias", [0.0, 2.5])
def test_the_cells_draw_is_eqs_61_62_by_hand(model, exported, bias):
    """Each component, each pen bit and the bias, from the cell's own ŷ: the draw equals a hand computation."""
    char_ids = padded(TEXT_IDS)
    states = zero_states(model, char_ids)
    point = np.array([[0.4, -0.3, 0.0]], np.float32)
    y_hat = lite_step(exported[1], point, char_ids, states, bias)[0]
    weights = np.exp(y_hat[0, 1:3] * (1 + bias)) / np.exp(y_hat[0, 1:3] * (1 + bias)).sum()
    e = 1 / (1 + np.exp(y_hat[0, 0]))
    below, above = max(weights[0] - 1e-3, 0.0), min(weights[0] + 1e-3, 0.999)  # either side of component 0's share
    cases = [((below, 0.3, 0.1, 0.0), 0, 1.0), ((above, 0.7, 0.8, 0.999), 1, 0.0),
             ((0.5, 0.01, 0.6, e - 1e-3), None, 1.0), ((0.5, 0.95, 0.3, e + 1e-3), None, 0.0)]
    for uniforms, component, end in cases:
        _, _, _, drawn, in_data_units, _ = lite_step(exported[1], point, char_ids, states, bias, uniforms)
        expected, j = hand_drawn_point(y_hat, bias, uniforms)
        assert component in (None, j) and expected[2] == end == drawn[0, 2], (uniforms, j, drawn)
        np.testing.assert_allclose(drawn[0], expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(in_data_units[0], expected * [*STD, 1.0] + [*MEAN, 0.0], rtol=1e-5, atol=1e-5)


def test_the_bias_narrows_the_draw_toward_the_mean(model, exported):
    """The same uniforms at a larger bias: σ shrinks by exp(−b), so the point lies e^−Δb times as far from μ."""
    char_ids = padded(TEXT_IDS)
    states = zero_states(model, char_ids)
    uniforms = (0.0, 0.8, 0.15, 0.5)  # u0 = 0: the first component at every bias
    y_hat = lite_step(exported[1], np.array([PEN_UP], np.float32), char_ids, states)[0]
    mu = y_hat[0, [3, 5]]  # μ̂1, μ̂2 of component 0 (M = 2)
    far, near = (lite_step(exported[1], np.array([PEN_UP], np.float32), char_ids, states, b, uniforms)[3][0, :2] - mu
                 for b in (0.0, 2.0))
    np.testing.assert_allclose(near, far * np.exp(-2.0), rtol=1e-4)


def test_padding_to_the_static_length_changes_nothing(model, exported):
    """The device pads the text with 0 to `max_characters`: the same as the model on the bare text."""
    short = np.array([TEXT_IDS], np.int32)
    lite_states, keras_states = zero_states(model, padded(TEXT_IDS)), zero_states(model, short)
    point = np.array([PEN_UP], np.float32)
    for t in range(3):
        y_hat, finished, phi, _, _, lite_states = lite_step(exported[1], point, padded(TEXT_IDS), lite_states)
        k_y_hat, k_finished, k_phi, keras_states = keras_step(model, point, short, keras_states)
        np.testing.assert_allclose(y_hat, k_y_hat, atol=1e-5)
        np.testing.assert_allclose(phi[:, : len(TEXT_IDS)], k_phi, atol=1e-5)
        np.testing.assert_array_equal(finished, k_finished.astype(np.float32))
        point = np.array([[0.3, -0.2, 0.0]], np.float32)


def test_finished_when_the_window_has_passed_the_text(model, exported):
    """§5.3: with κ far past the last character, φ(U + 1) wins and `finished` is 1."""
    char_ids = padded(TEXT_IDS)
    for kappa, expected in ((0.0, 0.0), (len(TEXT_IDS) + 1.0, 1.0)):
        states = {**zero_states(model, char_ids), "kappa": np.full((1, 2), kappa, np.float32)}
        finished = lite_step(exported[1], np.array([PEN_UP], np.float32), char_ids, states)[1]
        _, k_finished, _, _ = keras_step(model, np.array([PEN_UP], np.float32), char_ids, states)
        assert finished.tolist() == [expected] == k_finished.astype(np.float32).tolist()


def test_dynamic_range_quantised_cell_is_smaller_and_close():
    # units=32: the LSTM kernels reach the converter's 1,024 entries, so they are stored as int8.
    model = tiny_model(units=32, seed=6)
    char_ids = padded(TEXT_IDS, 16)
    full = export.synthesis_step_tflite(model, MEAN, STD, max_characters=16)
    small = export.synthesis_step_tflite(model, MEAN, STD, max_characters=16, quantize=True)
    assert [t for t in tflite_interpreter(small).get_tensor_details() if t["dtype"] == np.int8]
    assert len(small) < len(full)
    states = zero_states(model, char_ids)
    point = np.array([PEN_UP], np.float32)
    for t in range(5):
        y_hat, _, phi, _, _, next_states = lite_step(full, point, char_ids, states)
        q_y_hat, _, q_phi, _, _, _ = lite_step(small, point, char_ids, states)
        # int8 weights: close to the float cell, not equal to it.
        np.testing.assert_allclose(q_y_hat, y_hat, atol=0.05)
        np.testing.assert_allclose(q_phi, phi, atol=0.05)
        states, point = next_states, np.array([[0.2 * t, -0.1, float(t == 3)]], np.float32)
    assert not np.array_equal(q_y_hat, y_hat)


def test_export_writes_the_cell_unless_told_not_to(model, exported, tmp_path):
    assert SYNTHESIS_TFLITE in os.listdir(os.path.join(exported[0], export.EXTRA_DIR))
    bare = export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), (0.5, 0.0), (2.0, 2.0),
                                   str(tmp_path), tflite=False)
    assert sorted(os.listdir(os.path.join(bare, export.EXTRA_DIR))) == ["characters.json", "normalisation.json",
                                                                      "synthesis.json", "zoo.json"]


def test_the_export_alone_converts_the_same_cell(exported):
    """`python -m zoo tflite` (zoo.export.convert) rebuilds the model and takes the export's offset statistics."""
    from zoo.export.convert import export_tflite

    again = export_tflite(exported[0])
    char_ids = padded(TEXT_IDS)
    states = {key: np.full(shape, 0.1, np.float32) for key, shape in
              zip(STATE_KEYS, ([1, 8], [1, 8], [1, 2], [1, len(ALPHABET)], [1, 8], [1, 8]))}
    point = np.array([[0.2, -0.4, 0.0]], np.float32)
    mine, theirs = (lite_step(cell, point, char_ids, states, 0.5) for cell in (exported[1], again))
    for a, b in zip([*mine[:5], *mine[5].values()], [*theirs[:5], *theirs[5].values()]):
        np.testing.assert_allclose(a, b, atol=1e-6)
