"""Graves 2013 models, their in-graph generation, exports and TFLite cell."""

import json
import math
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python, run_tflite
from zoo import export, text
from zoo.data import text_corpus
from zoo.data.files import DataError
from zoo.layers.mdn import MixtureDensityLoss, mixture_negative_log_likelihood
from zoo.models import GravesHandwritingModel, GravesTextModel
from zoo.models.graves import CarriedStateTrainer, stream_negative_log_likelihood

VOCABULARY = ["[PAD]", "[UNK]", "\n", " ", "a", "b", "c", "d", "é"]


@pytest.fixture(scope="module")
def text_model():
    keras.utils.set_random_seed(11)
    model = GravesTextModel(len(VOCABULARY), units=12, num_layers=2)
    model(np.ones((1, 1), np.int32))
    return model


@pytest.fixture(scope="module")
def tokenizer():
    return text.CharacterTokenizer(VOCABULARY)


@pytest.fixture(scope="module")
def handwriting_model():
    keras.utils.set_random_seed(12)
    model = GravesHandwritingModel(units=10, num_layers=2, num_components=3)
    model(np.zeros((1, 1, 3), np.float32))
    return model


def test_text_model_shapes_and_defaults(text_model):
    assert text_model(np.array([[4, 5, 6], [7, 0, 0]])).shape == (2, 3, len(VOCABULARY))
    config = GravesTextModel(50).get_config()
    assert (config["units"], config["num_layers"]) == (700, 7)
    assert GravesHandwritingModel().get_config()["num_components"] == 20
    with pytest.raises(ValueError, match="at least 3"):
        GravesTextModel(2)


def test_padded_prime_ends_in_the_same_state(text_model):
    _, padded = text_model(np.array([[4, 5, 0, 0]]), return_states=True)
    _, short = text_model(np.array([[4, 5]]), return_states=True)
    for (h, c), (h2, c2) in zip(padded, short):
        np.testing.assert_allclose(h.numpy(), h2.numpy(), atol=1e-6)
        np.testing.assert_allclose(c.numpy(), c2.numpy(), atol=1e-6)


def test_generation_is_seeded_and_never_draws_padding_or_unknown(text_model):
    prime = np.array([[4, 5, 6], [7, 0, 0]], np.int32)
    first = text_model.generate(prime, 40, 1.0, (1, 2)).numpy()
    assert first.shape == (2, 40)
    np.testing.assert_array_equal(first, text_model.generate(prime, 40, 1.0, (1, 2)).numpy())
    assert not np.array_equal(first, text_model.generate(prime, 40, 1.0, (1, 3)).numpy())
    assert first.min() >= 2


def test_low_temperature_is_greedy(text_model):
    prime = np.array([[4, 5]], np.int32)
    drawn = text_model.generate(prime, 5, 1e-4, (0, 0)).numpy()[0]
    ids, expected = prime, []
    for _ in range(5):  # the obvious loop: re-run the whole sequence, take the argmax
        logits = text_model(ids).numpy()[0, -1]
        logits[:2] = -np.inf
        expected.append(int(logits.argmax()))
        ids = np.concatenate([ids, [[expected[-1]]]], axis=1)
    assert drawn.tolist() == expected


def test_text_model_keras_round_trip(text_model, tmp_path):
    text_model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    ids = np.array([[4, 5, 6]])
    np.testing.assert_allclose(restored(ids).numpy(), text_model(ids).numpy(), atol=1e-6)


def dropping_copy(model, rate, example=np.ones((1, 1), np.int32)):
    """A copy of the Graves `model` (built on `example`) with its weights and update dropout at `rate`."""
    dropping = type(model).from_config({**model.get_config(), "update_dropout": rate})
    dropping(example)
    dropping.set_weights(model.get_weights())  # the same weights: dropout adds none
    return dropping


def test_update_dropout_acts_in_training_only_and_round_trips(text_model):
    model, ids = dropping_copy(text_model, 0.5), np.array([[4, 5, 6, 7, 8, 3]] * 4)
    np.testing.assert_allclose(model(ids).numpy(), text_model(ids).numpy(), atol=1e-6)
    assert not np.allclose(model(ids, training=True).numpy(), text_model(ids, training=True).numpy(), atol=1e-3)
    assert GravesTextModel.from_config(model.get_config()).stack.cells[1].update_dropout == 0.5


def test_handwriting_update_dropout_acts_in_training_only_and_round_trips(handwriting_model):
    strokes = np.random.default_rng(3).normal(size=(4, 6, 3)).astype(np.float32)
    dropping = dropping_copy(handwriting_model, 0.5, strokes[:1, :1])
    np.testing.assert_allclose(dropping(strokes).numpy(), handwriting_model(strokes).numpy(), atol=1e-6)
    assert not np.allclose(dropping(strokes, training=True).numpy(), handwriting_model(strokes, training=True).numpy(),
                           atol=1e-3)
    assert GravesHandwritingModel.from_config(dropping.get_config()).stack.cells[1].update_dropout == 0.5


def test_dynamic_evaluation_does_not_drop_out(text_model):
    ids = np.random.default_rng(7).integers(2, len(VOCABULARY), 40).astype(np.int32)
    np.testing.assert_allclose(stream_negative_log_likelihood(dropping_copy(text_model, 0.5), ids, 8, 0.3),
                               stream_negative_log_likelihood(text_model, ids, 8, 0.3), rtol=1e-6)


def test_handwriting_model_trains_with_the_mixture_loss(handwriting_model):
    strokes = np.random.default_rng(0).normal(size=(4, 9, 3)).astype("float32")
    strokes[..., 2] = (strokes[..., 2] > 1).astype("float32")
    weights = np.ones((4, 8), "float32")
    weights[0, 5:] = 0  # padding
    handwriting_model.compile(optimizer=keras.optimizers.Adam(0.01), loss=MixtureDensityLoss(3))
    history = handwriting_model.fit(strokes[:, :-1], strokes[:, 1:], sample_weight=weights, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert handwriting_model(strokes).shape == (4, 9, 19)


def test_handwriting_sampling_is_seeded(handwriting_model):
    first = handwriting_model.sample(30, 0.5, (4, 5)).numpy()
    assert first.shape == (30, 3) and np.isfinite(first).all()
    assert set(np.unique(first[:, 2])) <= {0.0, 1.0}
    np.testing.assert_array_equal(first, handwriting_model.sample(30, 0.5, (4, 5)).numpy())
    assert not np.array_equal(first, handwriting_model.sample(30, 0.5, (4, 6)).numpy())


def test_character_tokenizer_round_trip_and_unknowns(tokenizer):
    ids = tokenizer(tf.constant(["abé", "z", b"a\xff"])).numpy()
    np.testing.assert_array_equal(ids, [[4, 5, 8], [1, 0, 0], [4, 1, 0]])
    assert tokenizer.detokenize(ids).numpy().tolist() == ["abé".encode(), "\ufffd".encode(), "a\ufffd".encode()]
    assert tokenizer(tf.constant([], tf.string)).shape == (0, 1)
    with pytest.raises(TypeError, match="tf.string text"):
        tokenizer(tf.constant([1]))
    with pytest.raises(ValueError, match="single characters"):
        text.CharacterTokenizer(["[PAD]", "[UNK]", "ab"])


# Exports.

@pytest.fixture(scope="module")
def text_export(text_model, tokenizer, tmp_path_factory):
    return export.export_graves_text(text_model, tokenizer, str(tmp_path_factory.mktemp("exports") / "graves_text"))


@pytest.fixture(scope="module")
def generate(text_export):
    return tf.saved_model.load(text_export).signatures["generate"]


def per_row(value, rows, dtype):
    """A `[rows]` input: `value` if it is a list (a value a row), else `value` in every row."""
    return tf.constant(value if isinstance(value, list) else [value] * rows, dtype)


def call_generate(generate, texts, length=20, temperature=1.0, seed=7, output="text"):
    out = generate(text=tf.constant(texts, tf.string), length=per_row(length, len(texts), tf.int32),
                   temperature=per_row(temperature, len(texts), tf.float32), seed=per_row(seed, len(texts), tf.int64))
    return out[output].numpy() if output else out


GENERATE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["generate"](text=tf.constant(["ab", "c"]), length=tf.constant([25, 25]),
                                   temperature=tf.constant([0.8, 0.8]), seed=tf.constant([3, 3], tf.int64))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "tensorflow_text"))
print(json.dumps({"leaked": leaked, "text": [t.decode() for t in out["text"].numpy()],
                  "signatures": sorted(model.signatures)}))
"""


def test_text_export_generates_in_a_process_without_zoo(text_export, generate, tmp_path):
    result = run_python(["-c", GENERATE_WITHOUT_ZOO, text_export], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == [] and out["signatures"] == ["generate", "score", "serving_default"]
    assert [len(t) for t in out["text"]] == [25, 25]
    assert out["text"] == [t.decode() for t in call_generate(generate, ["ab", "c"], 25, 0.8, 3)]
    assert set("".join(out["text"])) <= set(VOCABULARY[2:])


def test_text_export_saved_model_cli(text_export, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = run_python([cli, "show", "--dir", text_export, "--tag_set", "serve", "--signature_def", "generate"],
                      cwd=tmp_path)
    assert show.returncode == 0, show.stderr[-3000:]
    for name in ("text", "length", "temperature", "seed"):
        assert f"inputs['{name}']" in show.stdout
    for name in ("text", "valid", "error"):
        assert f"outputs['{name}']" in show.stdout


def test_text_export_is_seeded(generate):
    np.testing.assert_array_equal(call_generate(generate, ["ab"], seed=1), call_generate(generate, ["ab"], seed=1))
    assert not np.array_equal(call_generate(generate, ["ab"], seed=1), call_generate(generate, ["ab"], seed=2))


def test_score_reads_each_text_as_one_stream_in_windows(text_model, tokenizer, text_export):
    # Longer than the signature's 1,000-character window, so the states are carried between windows.
    texts = ["ab ba. " * 300, "a", "ab", "b a."]
    out = tf.saved_model.load(text_export).signatures["score"](text=tf.constant(texts))
    assert out["valid"].numpy().tolist() == [True, False, True, True]
    assert out["error"].numpy()[1].decode() == "text of fewer than 2 characters"
    assert out["characters"].numpy().tolist() == [len(texts[0]) - 1, 0, 1, 3]
    for row in (0, 2, 3):
        expected = stream_negative_log_likelihood(text_model, tokenizer.encode(texts[row]), 100) / math.log(2)
        assert out["bits_per_character"].numpy()[row] == pytest.approx(expected, rel=1e-5)


def test_inputs_of_different_batch_sizes_fail_the_request(generate):
    # A bad length or temperature a row each refuses its row alone: tests/test_row_refusal.py.
    with pytest.raises(tf.errors.InvalidArgumentError, match="generate: every input must have the same batch size"):
        call_generate(generate, texts=["ab", "c"], seed=[1])


def test_each_row_is_generated_as_alone_and_an_empty_prime_is_its_rows_answer(generate):
    texts, lengths, temperatures, seeds = ["ab", "", "c", "   ", "\x00"], [5, 9, 12, 7, 3], [1.0, 1.0, 0.0, 2.0, 1.0], \
        [1, 2, 3, 4, 5]
    out = call_generate(generate, texts, lengths, temperatures, seeds, output=None)
    # White space is text, and a NUL reads as a space: only the empty prime has nothing to go on.
    assert out["valid"].numpy().tolist() == [True, False, True, True, True]
    assert out["error"].numpy().tolist() == [b"", b"empty prime text", b"", b"", b""]
    generated = [t.decode() for t in out["text"].numpy()]
    assert [len(t) for t in generated] == [5, 0, 12, 7, 3]
    for row in (0, 2, 3, 4):
        alone = call_generate(generate, [texts[row]], lengths[row], temperatures[row], seeds[row])
        assert generated[row] == alone[0].decode()


def test_zero_temperature_is_greedy(generate, text_model, tokenizer):
    greedy = {call_generate(generate, ["ab"], 15, 0.0, seed)[0] for seed in range(3)}
    # test_low_temperature_is_greedy checks a near-zero temperature against the argmax, step by step.
    near_zero = text_model.generate(tokenizer(["ab"]), 15, 1e-4, (0, 0))
    assert greedy == {tokenizer.detokenize(near_zero)[0].numpy()}


def test_unknown_and_invalid_characters_generate_normally(generate):
    out = call_generate(generate, ["xyz", b"\xff\xfe", "   "])
    assert [len(t.decode()) for t in out] == [20, 20, 20]
    assert call_generate(generate, []).shape == (0,)


def test_text_tflite_step_matches_keras(text_export, text_model):
    with open(os.path.join(text_export, export.EXTRA_DIR, "graves_text_step.tflite"), "rb") as f:
        flatbuffer = f.read()
    rng = np.random.default_rng(1)
    states = [[rng.normal(size=(1, 12)).astype("float32") for _ in "hc"] for _ in range(2)]
    feed = {f"state_{n}_{part}": states[n][i] for n in range(2) for i, part in enumerate("hc")}
    for char_id in (3, 4, 8):
        lite = run_tflite(flatbuffer, {"char_id": [[char_id]], **feed})
        logits, new_states = text_model(np.array([[char_id]]), initial_states=states, return_states=True)
        np.testing.assert_allclose(lite[0], logits.numpy()[:, -1], atol=1e-5)
        for got, expected in zip(lite[1:], [t for pair in new_states for t in pair]):
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def sample_fn(handwriting_model, tmp_path_factory):
    path = export.export_graves_handwriting(handwriting_model, (0.5, -0.2), (10.0, 4.0),
                                            str(tmp_path_factory.mktemp("exports") / "graves_handwriting"))
    return path, tf.saved_model.load(path).signatures["sample"]


def call_sample(sample, steps=50, bias=0.0, seed=1, rows=None, output="strokes"):
    """One row's strokes `[steps, 3]` (`rows` None), or the outputs of `rows` rows (lists: a value a row)."""
    count = rows or 1
    out = sample(steps=per_row(steps, count, tf.int32), bias=per_row(bias, count, tf.float32),
                 seed=per_row(seed, count, tf.int64))
    if rows is None:
        return out[output].numpy()[0]
    return out


SAMPLE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["sample"](steps=tf.constant([40]), bias=tf.constant([1.0]), seed=tf.constant([9], tf.int64))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "tensorflow_text"))
print(json.dumps({"leaked": leaked, "strokes": out["strokes"].numpy()[0].tolist()}))
"""


def test_handwriting_export_samples_in_a_process_without_zoo(sample_fn, handwriting_model, tmp_path):
    path, sample = sample_fn
    result = run_python(["-c", SAMPLE_WITHOUT_ZOO, path], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == []
    np.testing.assert_allclose(out["strokes"], call_sample(sample, 40, 1.0, 9), atol=1e-5)
    # De-normalised with the training statistics: Δ = normalised · std + mean.
    normalised = handwriting_model.sample(40, [1.0], [[9, 0]]).numpy()[0]
    np.testing.assert_allclose(np.array(out["strokes"])[:, :2], normalised[:, :2] * [10.0, 4.0] + [0.5, -0.2],
                               rtol=1e-4, atol=1e-4)
    with open(os.path.join(path, export.EXTRA_DIR, "normalisation.json")) as f:
        assert json.load(f) == {"offset_mean": [0.5, -0.2], "offset_std": [10.0, 4.0]}


def test_each_sampled_row_is_drawn_as_alone(sample_fn):
    steps, biases, seeds = [5, 30, 12], [0.0, 1.0, 2.0], [4, 5, 6]
    out = call_sample(sample_fn[1], steps, biases, seeds, rows=3)
    assert out["strokes"].shape == (3, 30, 3) and out["lengths"].numpy().tolist() == steps
    for row in range(3):
        alone = call_sample(sample_fn[1], steps[row], biases[row], seeds[row])
        np.testing.assert_allclose(out["strokes"].numpy()[row, :steps[row]], alone, atol=1e-5)
        assert not out["strokes"].numpy()[row, steps[row]:].any()
    assert call_sample(sample_fn[1], [], [], [], rows=0)["strokes"].shape[0] == 0


def test_handwriting_tflite_step_matches_keras(sample_fn, handwriting_model):
    with open(os.path.join(sample_fn[0], export.EXTRA_DIR, "graves_handwriting_step.tflite"), "rb") as f:
        flatbuffer = f.read()
    rng = np.random.default_rng(2)
    states = [[rng.normal(size=(1, 10)).astype("float32") for _ in "hc"] for _ in range(2)]
    feed = {f"state_{n}_{part}": states[n][i] for n in range(2) for i, part in enumerate("hc")}
    for point in ([0.0, 0.0, 1.0], [0.7, -1.2, 0.0]):
        lite = run_tflite(flatbuffer, {"point": [[point]], **feed})
        y_hat, new_states = handwriting_model(np.array([[point]], np.float32), initial_states=states,
                                              return_states=True)
        np.testing.assert_allclose(lite[0], y_hat.numpy()[:, -1], atol=1e-5)
        for got, expected in zip(lite[1:], [t for pair in new_states for t in pair]):
            np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)


def test_sequence_nll_sums_the_weighted_points(handwriting_model):
    rng = np.random.default_rng(3)
    inputs, targets = rng.normal(size=(2, 2, 4, 3)).astype("float32")
    targets[..., 2] = rng.integers(0, 2, (2, 4))
    weights = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], np.float32)
    per_point = mixture_negative_log_likelihood(targets, handwriting_model(inputs), 3).numpy()
    got = handwriting_model.sequence_negative_log_likelihood(inputs, targets, weights).numpy()
    np.testing.assert_allclose(got, [per_point[0].sum(), per_point[1, :2].sum()], rtol=1e-5)
    # A row's padding changes nothing: the second line alone gives the same NLL.
    alone = handwriting_model.sequence_negative_log_likelihood(inputs[1:, :2], targets[1:, :2], weights[1:, :2])
    np.testing.assert_allclose(alone.numpy(), got[1:], rtol=1e-5)


def test_generation_draws_the_recorded_samples_of_fixed_weights_and_seeds():
    """Same weights and seeds → the recorded characters and pen offsets (tests/data/graves_recorded_samples.json):
    a change to the sampling loop that changes what a model draws fails here."""
    with open(os.path.join(os.path.dirname(__file__), "data", "graves_recorded_samples.json")) as f:
        recorded = json.load(f)
    characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b", "c", "d", "."])
    text_model = GravesTextModel(characters.vocabulary_size, units=8, num_layers=2)
    text_model(text_model.example_input())
    text_model.set_weights([np.array(w, np.float32) for w in recorded["text_weights"]])
    handwriting_model = GravesHandwritingModel(units=8, num_layers=2, num_components=3)
    handwriting_model(handwriting_model.example_input())
    handwriting_model.set_weights([np.array(w, np.float32) for w in recorded["handwriting_weights"]])
    primes = characters(tf.constant(recorded["primes"]))  # of 2, 1 and 7 characters
    for key, ids in recorded["generate"].items():
        temperature, seed = key.split("/")
        drawn = text_model.generate(primes, 40, float(temperature), (int(seed), 0))
        assert drawn.numpy().tolist() == ids, key
    for key, points in recorded["sample"].items():
        bias, seed = key.split("/")
        drawn = handwriting_model.sample(30, float(bias), (int(seed), 0))
        np.testing.assert_allclose(drawn.numpy(), points, atol=1e-6, err_msg=key)


def test_the_stream_read_in_windows_with_carried_states_is_the_stream_read_at_once(text_model):
    ids = np.random.default_rng(3).integers(2, len(VOCABULARY), 50).astype(np.int32)
    logits = text_model(ids[None, :-1])
    at_once = keras.losses.sparse_categorical_crossentropy(ids[None, 1:], logits, from_logits=True).numpy().mean()
    for window in (7, 49, 100):
        np.testing.assert_allclose(stream_negative_log_likelihood(text_model, ids, window), at_once, rtol=1e-5)


def test_dynamic_evaluation_adapts_to_the_text_read_and_restores_the_weights(text_model):
    ids = np.tile(np.array([4, 5, 6, 3], np.int32), 60)  # "abc abc abc ..."
    weights = [w.copy() for w in text_model.get_weights()]
    static = stream_negative_log_likelihood(text_model, ids, 8)
    dynamic = stream_negative_log_likelihood(text_model, ids, 8, dynamic_learning_rate=0.5)
    assert dynamic < 0.75 * static  # it learns the repetition as it reads (measured 1.47 against 2.22 nats)
    for before, after in zip(weights, text_model.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_dynamic_evaluation_is_a_gradient_step_of_the_mean_window_loss_after_scoring_each_window(text_model):
    ids = np.random.default_rng(5).integers(2, len(VOCABULARY), 30).astype(np.int32)
    weights = [w.copy() for w in text_model.get_weights()]
    total, states = 0.0, None
    try:  # by hand: score a window from the carried states, then SGD on its mean loss, through the loop's autodiff
        for start in range(0, 29, 8):
            inputs, targets = ids[None, start: start + 8], ids[None, start + 1: start + 9]
            inputs = inputs[:, :targets.shape[1]]
            with tf.GradientTape() as tape:
                logits, states = text_model(inputs, initial_states=states, return_states=True)
                losses = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
                mean = tf.reduce_mean(losses)
            total += float(tf.reduce_sum(losses))
            for variable, gradient in zip(text_model.trainable_variables,
                                          tape.gradient(mean, text_model.trainable_variables)):
                variable.assign_sub(0.3 * gradient)
    finally:
        text_model.set_weights(weights)
    np.testing.assert_allclose(stream_negative_log_likelihood(text_model, ids, 8, dynamic_learning_rate=0.3),
                               total / 29, rtol=1e-5)


def test_stream_batches_go_on_row_by_row_from_the_previous_batch():
    ids = np.arange(2, 50, dtype=np.int32)  # 48 characters → 3 rows of 2 windows of 7 (+ 1 target), 5 left out
    batches = [(x.numpy(), y.numpy()) for x, y in text_corpus.stream_dataset(ids, 7, 3)]
    assert len(batches) == 2 and all(x.shape == y.shape == (3, 7) for x, y in batches)
    rows = np.concatenate([x for x, _ in batches], axis=1)  # each row: one consecutive part of the stream
    np.testing.assert_array_equal(rows, ids[:42].reshape(3, 14))
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches], axis=1), ids[1:43].reshape(3, 14))
    with pytest.raises(DataError, match="shorter than 3 rows of 8"):
        text_corpus.stream_dataset(ids[:20], 7, 3)


def test_carried_states_read_each_row_as_one_sequence_and_reset(text_model):
    stream = np.random.default_rng(4).integers(2, len(VOCABULARY), (2, 12)).astype(np.int32)
    trainer = CarriedStateTrainer(text_model, rows=2)
    windows = [trainer(stream[:, start: start + 4]) for start in (0, 4, 8)]
    logits, states = text_model(stream, return_states=True)
    np.testing.assert_allclose(np.concatenate(windows, axis=1), logits, atol=1e-5)
    for carried, expected in zip(trainer.states, states):
        np.testing.assert_allclose(carried[0], expected[0], atol=1e-5)
        np.testing.assert_allclose(carried[1], expected[1], atol=1e-5)
    trainer.reset_states()
    np.testing.assert_allclose(trainer(stream[:, :4]), logits[:, :4], atol=1e-5)  # from zero states again


def test_gradients_stop_at_the_window_start(text_model):
    """Truncated BPTT: a window's gradient is the one of the model started from the (constant) carried states."""
    stream = np.random.default_rng(5).integers(2, len(VOCABULARY), (2, 10)).astype(np.int32)
    trainer = CarriedStateTrainer(text_model, rows=2)
    trainer(stream[:, :5])
    carried = [[tf.constant(h), tf.constant(c)] for h, c in trainer.states]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape(persistent=True) as tape:
        through_trainer = loss(stream[:, 6:], trainer(stream[:, 5:9]))
        from_constants = loss(stream[:, 6:], text_model(stream[:, 5:9], initial_states=carried))
    for a, b in zip(tape.gradient(through_trainer, text_model.trainable_variables),
                    tape.gradient(from_constants, text_model.trainable_variables)):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert all(g is None for g in tape.gradient(through_trainer, [v for layer in trainer.states for v in layer]))


def test_carried_state_trainer_round_trips_its_config(text_model):
    trainer = CarriedStateTrainer(text_model, rows=3)
    again = CarriedStateTrainer.from_config(trainer.get_config())
    assert again.rows == 3 and again.model.units == text_model.units
    assert [tuple(v.shape) for layer in again.states for v in layer] == [(3, 12)] * 4


def test_carried_states_are_per_replica_under_a_mirrored_strategy(tmp_path):
    """Two replicas, each carrying the states of its half of the rows, train exactly as one device does."""
    script = tmp_path / "mirrored.py"
    script.write_text('''
import json, sys
import numpy as np, tensorflow as tf
tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                           [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from zoo.data.text_corpus import stream_dataset
from zoo.models import GravesTextModel
from zoo.models.graves import CarriedStateTrainer, ResetStates
ids = np.random.default_rng(0).integers(2, 10, 400).astype(np.int32)
histories = []
for strategy in (tf.distribute.get_strategy(), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = GravesTextModel(10, units=8, num_layers=2)
        model(model.example_input())
        trainer = CarriedStateTrainer(model, rows=4 // strategy.num_replicas_in_sync)
        trainer.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = stream_dataset(ids, 10, 4)
    histories.append(trainer.fit(dataset, epochs=2, validation_data=dataset, callbacks=[ResetStates()],
                                 verbose=0).history)
print(json.dumps(histories))
''')
    result = run_python([str(script)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5)
