"""Handwriting synthesis export: text in, strokes out, in a process without zoo; per-row answers; bad input."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python
from zoo import export, text
from zoo.models import GravesSynthesisModel

ALPHABET = ["[PAD]", "[UNK]", " ", "a", "b", "c"]
MEAN, STD = (2.0, -1.0), (10.0, 5.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(4)
    model = GravesSynthesisModel(len(ALPHABET), units=8, num_layers=2, num_components=2, window_components=2)
    model(model.example_input())
    return model, export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), MEAN, STD,
                                          str(tmp_path_factory.mktemp("synthesis")))


@pytest.fixture(scope="module")
def write(exported):
    return tf.saved_model.load(exported[1]).signatures["serving_default"]


def request(texts, bias=None, seed=None):
    rows = len(texts)
    return {"text": tf.constant(texts), "bias": tf.constant(bias if bias is not None else [1.0] * rows),
            "seed": tf.constant(seed if seed is not None else list(range(rows)), tf.int64)}


def test_strokes_are_the_models_in_data_units(exported, write):
    model, _ = exported
    out = write(**request(["ab c", "ba"], bias=[0.5, 2.0], seed=[3, 4]))
    direct = model.sample(np.array([[3, 4, 2, 5], [4, 3, 0, 0]], np.int32), 4 * 40, [0.5, 2.0], [3, 4])
    lengths = out["lengths"].numpy()
    np.testing.assert_array_equal(lengths, direct["lengths"].numpy())
    np.testing.assert_array_equal(out["finished"].numpy(), direct["finished"].numpy())
    for row, length in enumerate(lengths):
        expected = direct["strokes"].numpy()[row, :length] * [*STD, 1.0] + [*MEAN, 0.0]
        np.testing.assert_allclose(out["strokes"].numpy()[row, :length], expected, rtol=1e-5, atol=1e-4)
        assert not out["strokes"].numpy()[row, length:].any() and not out["alignment"].numpy()[row, length:].any()
    assert out["alignment"].shape[2] == 4


def test_an_empty_text_gets_no_strokes_and_leaves_the_other_rows_alone(write):
    alone = write(**request(["ab"], bias=[1.0], seed=[9]))
    mixed = write(**request(["", "ab", "   "], bias=[1.0, 1.0, 1.0], seed=[5, 9, 6]))
    assert mixed["lengths"].numpy()[0] == 0 and not mixed["finished"].numpy()[0]
    assert not mixed["valid"].numpy()[0] and mixed["error"].numpy()[0] == b"empty text"
    assert mixed["valid"].numpy()[1:].all() and not mixed["error"].numpy()[1:].any()
    length = alone["lengths"].numpy()[0]
    assert mixed["lengths"].numpy()[1] == length
    np.testing.assert_allclose(mixed["strokes"].numpy()[1, :length], alone["strokes"].numpy()[0, :length], atol=1e-5)


def test_characters_outside_the_alphabet_are_written_as_unknown(write):
    out = write(**request(["a☃b"]))
    assert out["alignment"].shape[2] == 3 and out["lengths"].numpy()[0] > 0


def test_inputs_of_different_batch_sizes_fail_the_request(write):
    # Bad values a row each (an over-long text, a negative bias) refuse their row alone: tests/test_row_refusal.py.
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch size"):
        write(**{**request(["ab", "ba"]), "seed": tf.constant([1], tf.int64)})


WRITE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(["abc"]), bias=tf.constant([1.5]),
                                          seed=tf.constant([2], tf.int64))
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "zoo")
print(json.dumps({"leaked": leaked, "outputs": sorted(out), "lengths": out["lengths"].numpy().tolist()}))
"""


def test_loads_and_writes_in_a_process_without_zoo(exported, tmp_path):
    result = run_python(["-c", WRITE_WITHOUT_ZOO, exported[1]], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["leaked"] == [] and answer["outputs"] == ["alignment", "error", "finished", "lengths", "strokes",
                                                            "valid"]
    assert answer["lengths"][0] > 0
    extra = os.path.join(exported[1], export.EXTRA_DIR)
    assert sorted(os.listdir(extra)) == ["characters.json", "graves_synthesis_step.tflite", "normalisation.json",
                                         "synthesis.json", "zoo.json"]
    with open(os.path.join(extra, "synthesis.json")) as f:
        assert json.load(f) == {"max_text_characters": export.MAX_TEXT_CHARACTERS, "points_per_character": 40,
                                "max_bias": export.MAX_BIAS, "max_style_points": 2000}


@pytest.fixture(scope="module")
def write_in_style(exported):
    return tf.saved_model.load(exported[1]).signatures["write_in_style"]


def styled(texts, style_strokes, style_lengths, style_texts, seed=None):
    return {**request(texts, seed=seed), "style_strokes": tf.constant(style_strokes, tf.float32),
            "style_lengths": tf.constant(style_lengths, tf.int32), "style_text": tf.constant(style_texts)}


def test_write_in_style_reads_the_style_first(exported, write_in_style):
    model, _ = exported
    style = np.random.default_rng(8).normal(size=(2, 6, 3)).astype(np.float32) * [*STD, 0.0] + [*MEAN, 1.0]
    out = write_in_style(**styled(["ab", "c"], style, [6, 4], ["ba", "a"], seed=[1, 2]))
    char_ids = np.array([[4, 3, 2, 3, 4], [3, 2, 5, 0, 0]], np.int32)  # "ba ab", "a c"
    state, last = model.prime((style - [*MEAN, 0.0]) / [*STD, 1.0], [6, 4], char_ids)
    direct = model.sample(char_ids, 2 * 40, 1.0, [1, 2], state=state, first_point=last)
    np.testing.assert_array_equal(out["lengths"].numpy(), direct["lengths"].numpy())
    assert out["alignment"].shape[2] == 5  # over the style text, a space and the text
    length = out["lengths"].numpy()[0]
    np.testing.assert_allclose(out["strokes"].numpy()[0, :length],
                               direct["strokes"].numpy()[0, :length] * [*STD, 1.0] + [*MEAN, 0.0], atol=1e-4)


@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "style_strokes": tf.zeros([1, 2001, 3])},
     r"style_strokes must have 1 to 2000 points, got\] \[2001\]"),
    (lambda r: {**r, "style_strokes": tf.zeros([1, 0, 3])}, r"style_strokes must have 1 to 2000 points, got\] \[0\]"),
    (lambda r: {**r, "style_text": tf.constant(["a", "b"])}, "same batch size"),
])
def test_malformed_style_is_named(write_in_style, change, message):
    good = styled(["ab"], np.zeros((1, 4, 3), np.float32), [4], ["ba"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        write_in_style(**change(good))


def test_bytes_that_are_not_utf8_are_written_as_unknown_and_a_batch_of_0_answers_0_rows(write):
    out = write(text=tf.constant([b"a\xff\xfeb"]), bias=tf.constant([1.0]), seed=tf.constant([1], tf.int64))
    assert out["lengths"].numpy()[0] > 0 and out["alignment"].shape[2] == 4  # a, U+FFFD twice, b
    empty = write(text=tf.constant([], tf.string), bias=tf.constant([], tf.float32),
                  seed=tf.constant([], tf.int64))
    assert empty["strokes"].shape[0] == 0 and empty["lengths"].shape == (0,)
