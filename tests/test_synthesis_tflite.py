"""The synthesis `.tflite` cell: a device loop over it writes what the Keras model's `decode_step` writes."""

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
    path = export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), (0.5, 0.0), (2.0, 2.0),
                                   str(tmp_path_factory.mktemp("synthesis")))
    with open(os.path.join(path, export.EXTRA_DIR, SYNTHESIS_TFLITE), "rb") as f:
        return path, f.read()


def padded(ids, length=export.MAX_TEXT_CHARACTERS):
    row = np.zeros((1, length), np.int32)
    row[0, : len(ids)] = ids
    return row


def lite_step(flatbuffer, point, char_ids, states):
    """One run of the cell: `(ŷ, finished, φ, new states)`, states as `{decode_step name: array}`."""
    out = run_tflite(flatbuffer, {"point": point, "char_ids": char_ids,
                                  **{name: states[key] for name, key in zip(STATE_NAMES, STATE_KEYS)}})
    return out[0], out[1], out[2], dict(zip(STATE_KEYS, out[3:]))


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
    assert inputs == {"point": ([1, 3], "float32"), "char_ids": ([1, u], "int32"),
                      "state_0_h": ([1, 8], "float32"), "state_0_c": ([1, 8], "float32"),
                      "kappa": ([1, 2], "float32"), "window": ([1, len(ALPHABET)], "float32"),
                      "state_1_h": ([1, 8], "float32"), "state_1_c": ([1, 8], "float32")}
    outputs = [(d["shape"].tolist(), np.dtype(d["dtype"]).name)
               for d in sorted(interpreter.get_output_details(), key=export.tflite_output_position)]
    assert outputs == [([1, 1 + 6 * 2], "float32"), ([1], "float32"), ([1, u], "float32"),
                       ([1, 8], "float32"), ([1, 8], "float32"), ([1, 2], "float32"),
                       ([1, len(ALPHABET)], "float32"), ([1, 8], "float32"), ([1, 8], "float32")]


def test_a_device_loop_matches_keras_decode_step_at_every_step(model, exported):
    flatbuffer = exported[1]
    char_ids = padded(TEXT_IDS)
    lite_states = keras_states = zero_states(model, char_ids)
    point = np.array([PEN_UP], np.float32)
    for t in range(STEPS):
        y_hat, finished, phi, lite_states = lite_step(flatbuffer, point, char_ids, lite_states)
        k_y_hat, k_finished, k_phi, keras_states = keras_step(model, point, char_ids, keras_states)
        np.testing.assert_allclose(y_hat, k_y_hat, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_allclose(phi, k_phi, atol=1e-5, err_msg=f"step {t}")
        np.testing.assert_array_equal(finished, k_finished.astype(np.float32), err_msg=f"step {t}")
        for key in STATE_KEYS:
            np.testing.assert_allclose(lite_states[key], keras_states[key], atol=1e-5, err_msg=f"step {t} {key}")
        assert not phi[0, len(TEXT_IDS):].any()  # padded positions are never read
        # The device draws the next point from ŷ with the bias of §5.4; here Keras's sampler draws it.
        point = model.mixture_density.sample(y_hat, 1.0, [[t, 3]]).numpy().astype(np.float32)
        assert point.shape == (1, 3)
    assert np.any(lite_states["kappa"] > 0) and np.any(lite_states["w"] != 0)


def test_padding_to_the_static_length_changes_nothing(model, exported):
    """The device pads the text with 0 to `max_characters`: the same as the model on the bare text."""
    short = np.array([TEXT_IDS], np.int32)
    lite_states, keras_states = zero_states(model, padded(TEXT_IDS)), zero_states(model, short)
    point = np.array([PEN_UP], np.float32)
    for t in range(3):
        y_hat, finished, phi, lite_states = lite_step(exported[1], point, padded(TEXT_IDS), lite_states)
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
        _, finished, _, _ = lite_step(exported[1], np.array([PEN_UP], np.float32), char_ids, states)
        _, k_finished, _, _ = keras_step(model, np.array([PEN_UP], np.float32), char_ids, states)
        assert finished.tolist() == [expected] == k_finished.astype(np.float32).tolist()


def test_dynamic_range_quantised_cell_is_smaller_and_close():
    # units=32: the LSTM kernels reach the converter's 1,024 entries, so they are stored as int8.
    model = tiny_model(units=32, seed=6)
    char_ids = padded(TEXT_IDS, 16)
    full = export.synthesis_step_tflite(model, max_characters=16)
    small = export.synthesis_step_tflite(model, max_characters=16, quantize=True)
    assert [t for t in tflite_interpreter(small).get_tensor_details() if t["dtype"] == np.int8]
    assert len(small) < len(full)
    states = zero_states(model, char_ids)
    point = np.array([PEN_UP], np.float32)
    for t in range(5):
        y_hat, _, phi, next_states = lite_step(full, point, char_ids, states)
        q_y_hat, _, q_phi, _ = lite_step(small, point, char_ids, states)
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
                                                                      "zoo.json"]
