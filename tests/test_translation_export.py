"""Translation exports: text in, text out, in a process without zoo; beam search; TFLite; bad input."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python, tflite_interpreter
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
    train, _, _ = parallel.read_parallel("demo", str(tmp_path_factory.mktemp("demo")))
    return text.SubwordTokenizer(text.build_subword_vocabulary(train.sources + train.targets, 100))


@pytest.fixture(scope="module")
def exports(tokenizer, tmp_path_factory):
    """An untrained model of each kind (outputs are not sensible, the plumbing is), exported with TFLite."""
    base, paths = tmp_path_factory.mktemp("translation"), {}
    for name, build in MODELS.items():
        keras.utils.set_random_seed(7)
        model = build(tokenizer.vocabulary_size)
        model((np.ones((1, 2), np.int32), np.ones((1, 2), np.int32)))
        paths[name] = export.export_translation(model, tokenizer, str(base / name), MAX_LENGTH, beam_size=3)
    return paths


def signatures(path):
    return tf.saved_model.load(path).signatures


SOURCES = ["bako riba meni", "turi losa", "kori"]
TRANSLATE_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
import tensorflow_text  # registers the wordpiece tokeniser's ops, as TF Serving links them in
model = tf.saved_model.load(sys.argv[1])
out = model.signatures["serving_default"](text=tf.constant(json.loads(sys.argv[2])))
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "zoo")
print(json.dumps({"leaked": leaked, "translation": [t.decode() for t in out["translation"].numpy()],
                  "score": out["score"].numpy().tolist(), "outputs": sorted(out)}))
"""


@pytest.mark.parametrize("name", MODELS)
def test_export_translates_in_a_process_without_zoo(exports, name, tmp_path):
    result = run_python(["-c", TRANSLATE_WITHOUT_ZOO, exports[name], json.dumps(SOURCES)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == []
    expected = signatures(exports[name])["serving_default"](text=tf.constant(SOURCES))
    assert out["translation"] == [t.decode() for t in expected["translation"].numpy()]
    np.testing.assert_allclose(out["score"], expected["score"].numpy(), rtol=1e-5)
    assert out["outputs"] == (["attention", "score", "translation"] if name == "gnmt" else ["score", "translation"])


def test_saved_model_cli_lists_the_signatures(exports, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = run_python([cli, "show", "--dir", exports["gnmt"], "--all"], cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-2000:]
    for name in ("serving_default", "beam_search", "greedy"):
        assert f"signature_def['{name}']" in shown.stdout
    assert "outputs['translations']" in shown.stdout and "inputs['beam_size']" in shown.stdout


def test_beam_search_returns_the_n_best_list_best_first(exports):
    search = signatures(exports["gnmt"])["beam_search"]
    out = search(text=tf.constant(SOURCES[:2]), beam_size=tf.constant(4), alpha=tf.constant(0.6),
                 beta=tf.constant(0.2))
    assert out["translations"].shape == (2, 4) and out["scores"].shape == (2, 4)
    assert np.all(np.diff(out["scores"].numpy(), axis=1) <= 0)
    assert out["attention"].shape[:2] == (2, 4) and out["attention"].shape[3] == 3
    default = signatures(exports["gnmt"])["serving_default"](text=tf.constant(SOURCES[:2]))
    three = search(text=tf.constant(SOURCES[:2]), beam_size=tf.constant(3), alpha=tf.constant(0.6),
                   beta=tf.constant(0.2))
    # serving_default is the beam search of the export's defaults (beam 3 here), its best hypothesis.
    assert list(default["translation"].numpy()) == list(three["translations"].numpy()[:, 0])


@pytest.mark.parametrize("name", MODELS)
def test_tflite_greedy_matches_the_saved_model(exports, tokenizer, name):
    with open(os.path.join(exports[name], export.EXTRA_DIR, "translation.tflite"), "rb") as f:
        interpreter = tflite_interpreter(f.read())
    interpreter.allocate_tensors()
    greedy = signatures(exports[name])["greedy"]
    for source in SOURCES:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.array([source.encode()]))
        interpreter.invoke()
        score, ids = sorted((interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()),
                            key=lambda a: a.ndim)
        expected = greedy(text=tf.constant([source]))
        assert tokenizer.detokenize(ids).numpy()[0] == expected["translation"].numpy()[0]
        np.testing.assert_allclose(score, expected["score"].numpy(), rtol=1e-4, atol=1e-4)


def test_export_files(exports, tokenizer):
    extra = os.path.join(exports["cho"], export.EXTRA_DIR)
    assert sorted(os.listdir(extra)) == ["translation.json", "translation.tflite", "vocab.txt"]
    with open(os.path.join(extra, "vocab.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == tokenizer.vocabulary
    with open(os.path.join(extra, "translation.json")) as f:
        limits = json.load(f)
    assert limits["max_length"] == MAX_LENGTH and limits["beam_size"] == 3 and limits["end_id"] == 3


# Bad input (README "Bad input, every signature" and tests/test_bad_input_matrix.py for the shared list).

def test_a_source_longer_than_max_length_is_cut(exports):
    serve = signatures(exports["gnmt"])["serving_default"]
    words = "bako riba meni turi losa kori bako riba meni turi".split()
    long = " ".join(words * 3)  # 30 pieces
    out = serve(text=tf.constant([long, " ".join(words[:MAX_LENGTH])]))
    assert out["translation"].numpy()[0] == out["translation"].numpy()[1]
    assert out["attention"].shape[2] == MAX_LENGTH


def test_unknown_characters_are_unknown_pieces(exports, tokenizer):
    assert tokenizer(["bako ÿ€ riba"]).to_list()[0][1] == 1  # [UNK]
    out = signatures(exports["sutskever"])["serving_default"](text=tf.constant(["bako ÿ€ riba", b"bako \xff riba"]))
    assert out["translation"].shape == (2,) and np.isfinite(out["score"].numpy()).all()


@pytest.mark.parametrize("arguments, message", [
    ({"beam_size": 0}, r"beam_size must be in \[1, 16\], got.*0"),
    ({"beam_size": 17}, r"beam_size must be in \[1, 16\], got.*17"),
    ({"alpha": -0.1}, "alpha must be finite and >= 0"),
    ({"beta": float("nan")}, "beta must be finite and >= 0"),
])
def test_bad_beam_arguments_are_refused(exports, arguments, message):
    search = signatures(exports["gnmt"])["beam_search"]
    request = {"text": tf.constant(["bako"]), "beam_size": tf.constant(2), "alpha": tf.constant(0.6),
               "beta": tf.constant(0.2)}
    request.update({key: tf.constant(value) for key, value in arguments.items()})
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        search(**request)
