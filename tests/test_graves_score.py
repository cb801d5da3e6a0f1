"""The handwriting exports' `score` signatures: each line's negative log-likelihood, as the recipes evaluate it.

The number of a model card (nats per line) must come out of the SavedModel
alone: the signatures take strokes in the data's units and must agree with
the recipes' own path (normalise, whole lines from a pen-up, the model's
mixture density), row by row, in a process that never imports `zoo`.
"""

import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python
from zoo import export, text
from zoo.data import handwriting, handwriting_text
from zoo.layers.mdn import mixture_negative_log_likelihood
from zoo.models import GravesHandwritingModel, GravesSynthesisModel

ALPHABET = ["[PAD]", "[UNK]", " ", "a", "b", "c"]
MEAN, STD = (1.0, -0.5), (4.0, 3.0)
NAN = float("nan")
# Distinct lengths: the recipes' batches sort and bucket lines by length, which tells the lines apart.
LENGTHS = [7, 3, 12, 1]
TEXTS = ["ab", "c a", "abc cab", "b"]


def data_line(length, seed):
    """A line of `length` points in the data's units: offsets about `MEAN` ± `STD`, pen lifts 0/1, the last 1."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(MEAN, STD, size=(length, 2))
    pen = rng.integers(0, 2, size=(length, 1))
    pen[-1] = 1
    return np.concatenate([offsets, pen], axis=1).astype(np.float32)


LINES = [data_line(length, seed) for seed, length in enumerate(LENGTHS)]


def padded(lines, points=None, fill=0.0):
    """`strokes` `[len(lines), points, 3]` (default: the longest line's) and `lengths`, as the signatures take them."""
    strokes = np.full((len(lines), points or max(map(len, lines)), 3), fill, np.float32)
    for row, line in enumerate(lines):
        strokes[row, :len(line)] = line
    return tf.constant(strokes), tf.constant([len(line) for line in lines], tf.int32)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{"handwriting" | "synthesis": (the Keras model, the export's path)}, tiny untrained models."""
    keras.utils.set_random_seed(8)
    base = tmp_path_factory.mktemp("score")
    pen = GravesHandwritingModel(units=8, num_layers=2, num_components=2)
    pen(pen.example_input())
    synthesis = GravesSynthesisModel(len(ALPHABET), units=8, num_layers=2, num_components=2, window_components=2)
    synthesis(synthesis.example_input())
    return {"handwriting": (pen, export.export_graves_handwriting(pen, MEAN, STD, str(base / "pen"), tflite=False)),
            "synthesis": (synthesis, export.export_synthesis(synthesis, text.CharacterTokenizer(ALPHABET), MEAN, STD,
                                                             str(base / "synthesis"), tflite=False))}


@pytest.fixture(scope="module")
def score(exports):
    """{"handwriting" | "synthesis": the loaded `score` signature}."""
    return {name: tf.saved_model.load(path).signatures["score"] for name, (_, path) in exports.items()}


def score_lines(score, name, lines, texts=None, **padding):
    """The signature's outputs for `lines` (and their `texts`, for synthesis), as NumPy arrays."""
    strokes, lengths = padded(lines, **padding)
    inputs = {"strokes": strokes, "lengths": lengths}
    if name == "synthesis":
        inputs["text"] = tf.constant(texts)
    return {key: value.numpy() for key, value in score[name](**inputs).items()}


def recipe_handwriting_nats(model, lines):
    """Each line's NLL as `recipes/train_graves_handwriting.py` evaluates the test set, in the lines' order."""
    normalised = handwriting.normalise(handwriting.Handwriting([None] * len(lines), lines), MEAN, STD)
    nats = np.concatenate([model.sequence_negative_log_likelihood(*batch).numpy()
                           for batch in handwriting.whole_line_batches(normalised, batch_size=2)])
    by_length = sorted(range(len(lines)), key=lambda i: len(lines[i]))  # whole_line_batches' order
    return nats[np.argsort(by_length)]


def recipe_synthesis_nats(model, lines, texts):
    """Each line's NLL as `recipes/train_graves_synthesis.py` validates (its `validation_negative_log_likelihood`
    sums these), in the lines' order."""
    normalised = handwriting.normalise(handwriting_text.TranscribedHandwriting([None] * len(lines), lines, texts),
                                       MEAN, STD)
    nats_of_length = {}
    for (inputs, char_ids), targets, weights in handwriting_text.synthesis_dataset(
            normalised, text.CharacterTokenizer(ALPHABET), batch_size=2):
        nll = model.mixture_density.negative_log_likelihood(targets, model((inputs, char_ids))) * weights
        nats_of_length.update(zip(weights.numpy().sum(axis=1).astype(int).tolist(),
                                  tf.reduce_sum(nll, axis=1).numpy()))
    return np.array([nats_of_length[len(line)] for line in lines])


def test_handwriting_score_is_the_recipes_nll_of_each_line(exports, score):
    model, _ = exports["handwriting"]
    out = score_lines(score, "handwriting", LINES)
    assert out["valid"].all() and out["points"].tolist() == LENGTHS
    np.testing.assert_allclose(out["nats"], recipe_handwriting_nats(model, LINES), rtol=1e-4)
    # By hand: a line of one point is −log Pr(x_1 | pen-up), its offsets normalised.
    first = (LINES[3] - [*MEAN, 0.0]) / [*STD, 1.0]
    y_hat = model(np.array([[handwriting.START]], np.float32))
    expected = mixture_negative_log_likelihood(first[None].astype(np.float32), y_hat, 2).numpy()[0, 0]
    assert out["nats"][3] == pytest.approx(expected, rel=1e-4)


def test_synthesis_score_is_the_recipes_nll_of_each_line_given_its_text(exports, score):
    model, _ = exports["synthesis"]
    out = score_lines(score, "synthesis", LINES, TEXTS)
    assert out["valid"].all() and out["points"].tolist() == LENGTHS
    np.testing.assert_allclose(out["nats"], recipe_synthesis_nats(model, LINES, TEXTS), rtol=1e-4)
    # The text conditions the line: another text, another likelihood.
    other = score_lines(score, "synthesis", LINES[:1], ["cc"])
    assert abs(other["nats"][0] - out["nats"][0]) > 1e-3


@pytest.mark.parametrize("name", ["handwriting", "synthesis"])
def test_each_row_of_a_padded_batch_is_scored_as_alone(score, name):
    # Padding is never read: NaN after a line's points changes nothing.
    batch = score_lines(score, name, LINES, TEXTS, points=20, fill=NAN)
    for row, line in enumerate(LINES):
        alone = score_lines(score, name, [line], TEXTS[row: row + 1])
        assert batch["points"][row] == alone["points"][0]
        assert batch["nats"][row] == pytest.approx(alone["nats"][0], rel=1e-5)


def with_point(line, index, value):
    line = line.copy()
    line[index] = value
    return line


# Each bad row: (the signature, the row's strokes, its length (None: the strokes'), its text, the error).
BAD_ROWS = [
    ("handwriting", with_point(LINES[0], 2, [NAN, 0.0, 0.0]), None, None, "strokes must be finite"),
    ("handwriting", with_point(LINES[0], 4, [1.0, 1.0, 0.5]), None, None, "end of stroke must be 0 or 1"),
    ("handwriting", LINES[0], 0, None, r"lengths must be in \[1, 12\], got 0"),
    ("handwriting", LINES[0], 13, None, r"lengths must be in \[1, 12\], got 13"),
    ("synthesis", LINES[0], None, "", "empty text"),
    ("synthesis", LINES[0], None, "a" * 121, "text longer than 120 characters: 121"),
    ("synthesis", with_point(LINES[0], 6, [0.0, np.inf, 1.0]), None, "ab", "strokes must be finite"),
    ("synthesis", with_point(LINES[0], 0, [0.0, 0.0, -1.0]), None, "ab", "end of stroke must be 0 or 1"),
    ("synthesis", LINES[0], -1, "ab", r"lengths must be in \[1, 12\], got -1"),
]


@pytest.mark.parametrize("name, bad, length, bad_text, message", BAD_ROWS)
def test_a_bad_row_is_refused_alone(score, name, bad, length, bad_text, message):
    lines, texts = [LINES[2], bad, LINES[1]], [TEXTS[2], bad_text, TEXTS[1]]
    strokes, lengths = padded(lines)
    inputs = {"strokes": strokes, "lengths": tf.constant([12, len(bad) if length is None else length, 3])}
    if name == "synthesis":
        inputs["text"] = tf.constant(texts)
    out = score[name](**inputs)
    assert out["valid"].numpy().tolist() == [True, False, True]
    errors = [e.decode() for e in out["error"].numpy()]
    assert errors[0] == errors[2] == "" and re.fullmatch(message, errors[1]), errors
    assert out["nats"].numpy()[1] == 0.0 and out["points"].numpy()[1] == 0
    for row in (0, 2):
        alone = score_lines(score, name, lines[row: row + 1], texts[row: row + 1])
        assert out["nats"].numpy()[row] == pytest.approx(alone["nats"][0], rel=1e-5)


def test_a_line_over_the_cap_is_refused_and_costs_no_steps(score):
    strokes, _ = padded([LINES[1], LINES[0]], points=export.MAX_SCORED_POINTS + 1)
    out = score["handwriting"](strokes=strokes, lengths=tf.constant([3, export.MAX_SCORED_POINTS + 1]))
    assert out["valid"].numpy().tolist() == [True, False]
    assert out["error"].numpy()[1].decode() == "lengths must be in [1, 5000], got 5001"
    assert out["nats"].numpy()[0] == pytest.approx(score_lines(score, "handwriting", LINES[1:2])["nats"][0], rel=1e-5)


@pytest.mark.parametrize("name", ["handwriting", "synthesis"])
def test_an_empty_batch_answers_no_rows_and_unequal_batches_fail_the_request(score, name):
    texts = {"text": tf.constant([], tf.string)} if name == "synthesis" else {}
    out = score[name](strokes=tf.zeros([0, 4, 3]), lengths=tf.zeros([0], tf.int32), **texts)
    assert {key: value.shape[0] for key, value in out.items()} == dict.fromkeys(out, 0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="score: every input must have the same batch size"):
        score[name](strokes=tf.zeros([2, 4, 3]), lengths=tf.constant([1], tf.int32), **texts)


SCORE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
lines = json.loads(sys.argv[3])
answers = {}
for name, path in (("handwriting", sys.argv[1]), ("synthesis", sys.argv[2])):
    inputs = {"strokes": tf.constant(lines["strokes"]), "lengths": tf.constant(lines["lengths"])}
    if name == "synthesis":
        inputs["text"] = tf.constant(lines["texts"])
    out = tf.saved_model.load(path).signatures["score"](**inputs)
    answers[name] = {"nats": out["nats"].numpy().tolist(), "points": out["points"].numpy().tolist()}
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "tensorflow_text"))
print(json.dumps({"leaked": leaked, **answers}))
"""


def test_scores_the_same_in_a_process_without_zoo(exports, score, tmp_path):
    strokes, lengths = padded(LINES)
    lines = {"strokes": strokes.numpy().tolist(), "lengths": lengths.numpy().tolist(), "texts": TEXTS}
    result = run_python(["-c", SCORE_WITHOUT_ZOO, exports["handwriting"][1], exports["synthesis"][1],
                         json.dumps(lines)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["leaked"] == []
    for name in ("handwriting", "synthesis"):
        here = score_lines(score, name, LINES, TEXTS)
        assert answer[name]["points"] == LENGTHS
        np.testing.assert_allclose(answer[name]["nats"], here["nats"], rtol=1e-6)
