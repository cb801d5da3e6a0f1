"""Translation exports: text in, text out, in a process without zoo; beam search; TFLite; bad input."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python, run_tflite
from zoo import export, text
from zoo.data import parallel
from zoo.models import GNMT, ChoEncoderDecoder, SutskeverSeq2Seq

MAX_LENGTH = 10
MODELS = {
    "sutskever": lambda size: SutskeverSeq2Seq(size, embedding_dim=8, units=8, num_layers=2),
    "cho": lambda size: ChoEncoderDecoder(size, embedding_dim=8, units=8, maxout_units=4),
    "gnmt": lambda size: GNMT(size, embedding_dim=8, units=8, encoder_layers=2, decoder_layers=2,
                              attention_units=8),
}


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    # Seeded before the tokenizer is made: seeding frees its SentencePiece model (see SubwordTokenizer).
    keras.utils.set_random_seed(7)
    train, _, _ = parallel.read_parallel("demo", str(tmp_path_factory.mktemp("demo")))
    return text.SubwordTokenizer(text.build_subword_model(train.sources + train.targets, 300))


@pytest.fixture(scope="module")
def models(tokenizer):
    """An untrained model of each kind: outputs are not sensible, the plumbing is."""
    built = {}
    for name, build in MODELS.items():
        built[name] = build(tokenizer.vocabulary_size)
        built[name]((np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)))
    return built


@pytest.fixture(scope="module")
def exports(models, tokenizer, tmp_path_factory):
    base = tmp_path_factory.mktemp("translation")
    return {name: export.export_translation(model, tokenizer, str(base / name), MAX_LENGTH, beam_size=3)
            for name, model in models.items()}


def signatures(path):
    return tf.saved_model.load(path).signatures


SOURCES = ["bako riba meni", "turi losa", "kori"]
TRANSLATE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the SentencePiece tokeniser's ops, as TF Serving links them in
answers = {}
for name, path in json.loads(sys.argv[1]).items():
    out = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
    answers[name] = {"translation": [t.decode() for t in out["translation"].numpy()],
                     "score": out["score"].numpy().tolist(), "outputs": sorted(out)}
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "zoo")
print(json.dumps({"leaked": leaked, "answers": answers}))
"""


def test_exports_translate_in_a_process_without_zoo(exports, tmp_path):
    # One process for the three models: a fresh process's start is most of what this test takes.
    result = run_python(["-c", TRANSLATE_WITHOUT_ZOO, json.dumps(exports), json.dumps(SOURCES)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == [] and sorted(out["answers"]) == sorted(MODELS)
    for name, answer in out["answers"].items():
        expected = signatures(exports[name])["serving_default"](text=tf.constant(SOURCES))
        assert answer["translation"] == [t.decode() for t in expected["translation"].numpy()], name
        np.testing.assert_allclose(answer["score"], expected["score"].numpy(), rtol=1e-5)
        assert answer["outputs"] == sorted(["error", "score", "translation", "valid"]
                                           + (["attention"] if name == "gnmt" else [])), name


def test_saved_model_cli_lists_the_signatures(exports, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = run_python([cli, "show", "--dir", exports["gnmt"], "--all"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in ("serving_default", "beam_search", "greedy", "score", "alignment"):
        assert f"signature_def['{name}']" in shown.stdout
    assert "outputs['translations']" in shown.stdout and "inputs['beam_size']" in shown.stdout
    assert "outputs['piece_scores']" in shown.stdout and "outputs['source_pieces']" in shown.stdout


def beam_request(texts, beam_size=2, alpha=0.6, beta=0.2):
    """`beam_search`'s inputs: the arguments a row each, as TF Serving's row format sends them."""
    rows = len(texts)
    return {"text": tf.constant(texts, tf.string), "beam_size": tf.constant([beam_size] * rows, tf.int32),
            "alpha": tf.constant([alpha] * rows, tf.float32), "beta": tf.constant([beta] * rows, tf.float32)}


def test_beam_search_returns_the_n_best_list_best_first(exports, tokenizer):
    search = signatures(exports["gnmt"])["beam_search"]
    out = search(**beam_request(SOURCES[:2], 4))
    assert out["translations"].shape == (2, 4) and out["scores"].shape == (2, 4)
    assert np.all(np.diff(out["scores"].numpy(), axis=1) <= 0)
    source_length = min(MAX_LENGTH, max(len(ids) for ids in tokenizer(SOURCES[:2]).to_list()))
    assert out["attention"].shape[:2] == (2, 4) and out["attention"].shape[3] == source_length
    default = signatures(exports["gnmt"])["serving_default"](text=tf.constant(SOURCES[:2]))
    three = search(**beam_request(SOURCES[:2], 3))
    # serving_default is the beam search of the export's defaults (beam 3 here), its best hypothesis.
    assert list(default["translation"].numpy()) == list(three["translations"].numpy()[:, 0])


@pytest.mark.parametrize("name", MODELS)
def test_tflite_runs_the_saved_models_beam_search_text_to_text(exports, tokenizer, name):
    with open(os.path.join(exports[name], export.EXTRA_DIR, "translation.tflite"), "rb") as f:
        content = f.read()
    serve = signatures(exports[name])["serving_default"]  # beam 3 with the export's alpha and beta
    for source in SOURCES:
        out = dict(zip(export.TRANSLATION_TFLITE_OUTPUTS, run_tflite(content, {"text": np.array([source.encode()])})))
        expected = serve(text=tf.constant([source]))
        # The same pieces as the SavedModel's beam search (whose text is the byte-exact detokenizer's) ...
        assert tokenizer.detokenize(out["ids"]).numpy().tolist() == expected["translation"].numpy().tolist()
        # ... written as the device's detokenizer writes them (an untrained model writes byte pieces, which
        # the device's SentencePiece kernel does not join into characters).
        assert out["translation"].tolist() == tokenizer.detokenize_on_device(out["ids"][0]).numpy().tolist()
        np.testing.assert_allclose(out["score"], expected["score"].numpy(), rtol=1e-4, atol=1e-4)


def step_by_step(model, tokenizer, source, target):
    """Each target piece's (and [END]'s) log-probability and attention, by `decode_step`, one step at a time,
    renormalised without [PAD] and [START] as the decoders are; the source cut to MAX_LENGTH pieces as served."""
    state = model.encode(tokenizer([source])[:, :MAX_LENGTH].to_tensor())
    token, log_probs, attention = tokenizer.start_id, [], []
    for piece in tokenizer([target]).to_list()[0] + [tokenizer.end_id]:
        step, state, step_attention = model.decode_step(tf.constant([token]), state)
        allowed = np.delete(step.numpy()[0], [tokenizer.pad_id, tokenizer.start_id])
        log_probs.append(step.numpy()[0, piece] - np.logaddexp.reduce(allowed))
        attention.append(None if step_attention is None else step_attention.numpy()[0])
        token = piece
    return np.array(log_probs), attention


PAIRS = [("bako riba meni", "turi losa"), ("kori", ""), ("turi", "bako riba")]


@pytest.mark.parametrize("name", MODELS)
def test_score_is_the_models_log_probability_of_the_given_translation(exports, models, tokenizer, name):
    out = signatures(exports[name])["score"](source=tf.constant([s for s, _ in PAIRS]),
                                             target=tf.constant([t for _, t in PAIRS]))
    for row, (source, target) in enumerate(PAIRS):
        expected, _ = step_by_step(models[name], tokenizer, source, target)
        length = len(expected)
        assert out["lengths"].numpy()[row] == length  # an empty target is [END] alone
        np.testing.assert_allclose(out["piece_scores"].numpy()[row, :length], expected, rtol=1e-4, atol=1e-5)
        assert (out["piece_scores"].numpy()[row, length:] == 0).all()
        np.testing.assert_allclose(out["score"].numpy()[row], expected.sum(), rtol=1e-4)
        pieces = out["pieces"].numpy()[row].tolist()
        assert pieces[:length] == tokenizer.pieces(tokenizer([target])).to_list()[0] + [b"[END]"]
        assert pieces[length:] == [b""] * (len(pieces) - length)


def test_alignment_is_the_attention_of_each_target_piece(exports, models, tokenizer):
    out = signatures(exports["gnmt"])["alignment"](source=tf.constant([s for s, _ in PAIRS]),
                                                   target=tf.constant([t for _, t in PAIRS]))
    assert "alignment" not in signatures(exports["cho"])
    for row, (source, target) in enumerate(PAIRS):
        _, expected = step_by_step(models["gnmt"], tokenizer, source, target)
        source_length = min(MAX_LENGTH, len(tokenizer([source]).to_list()[0]))
        attention = out["attention"].numpy()[row]
        np.testing.assert_allclose(attention[:len(expected), :source_length], np.array(expected)[:, :source_length],
                                   rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(attention[:len(expected)].sum(axis=1), 1.0, rtol=1e-5)
        assert (attention[:, source_length:] == 0).all() and (attention[len(expected):] == 0).all()
        assert out["source_pieces"].numpy()[row, :source_length].tolist() == \
            tokenizer.pieces(tokenizer([source])).to_list()[0][:MAX_LENGTH]
        assert out["target_pieces"].numpy()[row, len(expected) - 1] == b"[END]"


@pytest.mark.parametrize("signature", ["score", "alignment"])
def test_pairs_of_different_batch_sizes_are_refused(exports, signature):
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=f"{signature}: source and target must have the same batch size, got.*2.*and.*1"):
        signatures(exports["gnmt"])[signature](source=tf.constant(["kori", "turi"]), target=tf.constant(["losa"]))


def rows(out, index):
    """The outputs of the rows `index` (a list), as NumPy."""
    return {name: value.numpy()[index] for name, value in out.items()}


def assert_rows_equal(got, expected):
    for name in expected:
        if expected[name].dtype.kind in "OSUb":
            assert got[name].tolist() == expected[name].tolist(), name
        else:
            np.testing.assert_allclose(got[name], expected[name], atol=1e-5, err_msg=name)


BAD_SOURCES = ["", " \t\n", "\x00\x01"]  # no piece after preparation


@pytest.mark.parametrize("name", MODELS)
def test_a_bad_source_gets_its_own_answer_and_the_other_rows_are_served_as_alone(exports, name):
    good = SOURCES[:2]
    batch = [BAD_SOURCES[0], good[0], BAD_SOURCES[1], good[1], BAD_SOURCES[2]]
    loaded = signatures(exports[name])
    for signature in ("serving_default", "beam_search", "greedy"):
        request = beam_request if signature == "beam_search" else lambda texts: {"text": tf.constant(texts)}
        alone = loaded[signature](**request(good))
        out = loaded[signature](**request(batch))
        assert out["valid"].numpy().tolist() == [False, True, False, True, False], signature
        assert out["error"].numpy().tolist() == [b"empty source text (no piece)", b"", b"empty source text (no piece)",
                                                 b"", b"empty source text (no piece)"]
        assert_rows_equal(rows(out, [1, 3]), rows(alone, [0, 1]))
        bad = rows(out, [0, 2, 4])
        translations = bad["translation" if "translation" in bad else "translations"]
        assert (translations == b"").all() and np.isneginf(bad["score" if "score" in bad else "scores"]).all()
        if "attention" in bad:
            assert (bad["attention"] == 0).all()


@pytest.mark.parametrize("signature", ["score", "alignment"])
def test_a_bad_pair_gets_its_own_answer_and_the_other_pairs_are_scored_as_alone(exports, signature):
    too_long = " ".join(["bako"] * 11)  # max_length = 10 pieces
    sources, targets = ["kori", "", "turi riba", "kori"], ["losa", "losa", "bako", too_long]
    out = signatures(exports["gnmt"])[signature](source=tf.constant(sources), target=tf.constant(targets))
    alone = signatures(exports["gnmt"])[signature](source=tf.constant([sources[0], sources[2]]),
                                                  target=tf.constant([targets[0], targets[2]]))
    assert out["valid"].numpy().tolist() == [True, False, True, False]
    assert out["error"].numpy().tolist() == [b"", b"empty source text (no piece)", b"",
                                             b"target longer than max_length = 10 pieces"]
    # The batch pads to its longest row, a bad one's maybe: compare within the shapes of the rows alone.
    good = {name: value[tuple(slice(0, n) for n in alone[name].shape)] for name, value in rows(out, [0, 2]).items()}
    assert_rows_equal(good, rows(alone, [0, 1]))
    bad = rows(out, [1, 3])
    for name, value in bad.items():
        if name == "score":
            assert np.isneginf(value).all()
        elif name not in ("valid", "error"):
            assert (value == (b"" if value.dtype.kind == "S" or value.dtype == object else 0)).all(), name


def test_score_takes_non_utf8_and_an_empty_batch(exports):
    score = signatures(exports["gnmt"])["score"]
    out = score(source=tf.constant([b"bako \xff riba"]), target=tf.constant([b"turi \xfe"]))
    assert np.isfinite(out["score"].numpy()).all()
    assert score(source=tf.constant([], tf.string), target=tf.constant([], tf.string))["score"].shape == (0,)


def test_export_files(exports, tokenizer):
    extra = os.path.join(exports["cho"], export.EXTRA_DIR)
    assert sorted(os.listdir(extra)) == ["sentencepiece.model", "translation.json", "translation.tflite", "vocab.txt",
                                      "zoo.json"]
    with open(os.path.join(extra, "sentencepiece.model"), "rb") as f:
        assert f.read() == tokenizer.model_proto
    with open(os.path.join(extra, "vocab.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == tokenizer.vocabulary
    with open(os.path.join(extra, "translation.json")) as f:
        limits = json.load(f)
    assert limits["max_length"] == MAX_LENGTH and limits["beam_size"] == 3 and limits["end_id"] == 3


# Bad input (README "Bad input, every signature" and tests/test_bad_input_matrix.py for the shared list).

def test_a_source_longer_than_max_length_is_cut(exports, tokenizer):
    serve = signatures(exports["gnmt"])["serving_default"]
    long = " ".join("bako riba meni turi losa kori".split() * 5)
    first_pieces = tokenizer.detokenize(tokenizer([long])[:, :MAX_LENGTH])
    assert len(tokenizer([long]).to_list()[0]) > MAX_LENGTH
    out = serve(text=tf.concat([tf.constant([long]), first_pieces], axis=0))
    assert out["translation"].numpy()[0] == out["translation"].numpy()[1]
    assert out["attention"].shape[2] == MAX_LENGTH


def test_unseen_characters_are_byte_pieces_not_unknown(exports, tokenizer):
    assert tokenizer.unk_id not in tokenizer(["bako ÿ€ riba"]).to_list()[0]
    out = signatures(exports["sutskever"])["serving_default"](text=tf.constant(["bako ÿ€ riba", b"bako \xff riba"]))
    assert out["translation"].shape == (2,) and np.isfinite(out["score"].numpy()).all()


@pytest.mark.parametrize("arguments, message", [
    ({"beam_size": [0, 0]}, r"beam_size must be in \[1, 16\], got.*0"),
    ({"beam_size": [17, 17]}, r"beam_size must be in \[1, 16\], got.*17"),
    ({"beam_size": [2, 3]}, r"beam_size must be the same in every row, got.*2 3"),
    ({"alpha": [-0.1, -0.1]}, "alpha must be finite and >= 0"),
    ({"alpha": [0.6, 0.7]}, "alpha must be the same in every row"),
    ({"beta": [float("nan")] * 2}, "beta must be finite and >= 0"),
    ({"beta": [0.2]}, "beam_search: every input must have the same batch size"),
])
def test_bad_beam_arguments_are_refused(exports, arguments, message):
    search = signatures(exports["gnmt"])["beam_search"]
    request = beam_request(["bako", "riba"])
    request.update({key: tf.constant(value, request[key].dtype) for key, value in arguments.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        search(**request)
    assert search(**beam_request([]))["translations"].shape[0] == 0  # an empty batch takes the defaults
