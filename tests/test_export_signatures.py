"""The exports' contract: every family's signatures and .tflite inputs/outputs, against a checked-in expectation.

A tiny model of each family is exported as the recipes export it; the loaded
SavedModel's signatures (names, input and output dtypes and shapes) and each
`.tflite` file's input and output tensors are compared with
`tests/data/export_signatures.json`. A change to what a client sends or
receives shows here. After a deliberate change, regenerate the file with
`ZOO_WRITE_EXPECTED=1 pytest tests/test_export_signatures.py` and review its diff.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import tflite_interpreter
from zoo import export, registry, text
from zoo.models import (GNMT, ChoEncoderDecoder, GravesHandwritingModel, GravesSynthesisModel, GravesTextModel,
                        HierarchicalAttentionNetwork, SutskeverSeq2Seq)

EXPECTED = os.path.join(os.path.dirname(__file__), "data", "export_signatures.json")
SENTENCES = ["the quick brown fox jumps over the lazy dog.", "a cat sat."] * 5
TRANSLATORS = {
    "sutskever": lambda size: SutskeverSeq2Seq(size, embedding_dim=4, units=4, num_layers=2),
    "cho": lambda size: ChoEncoderDecoder(size, embedding_dim=4, units=4, maxout_units=2),
    "gnmt": lambda size: GNMT(size, embedding_dim=4, units=4, encoder_layers=2, decoder_layers=2, attention_units=4),
}


def _spec(spec):
    return {"dtype": spec.dtype.name, "shape": None if spec.shape.rank is None else spec.shape.as_list()}


def describe_saved_model(path):
    """`{signature: {"inputs": {name: spec}, "outputs": {name: spec}}}` of a SavedModel, as a client sees it."""
    signatures = tf.saved_model.load(path).signatures
    return {name: {"inputs": {k: _spec(v) for k, v in function.structured_input_signature[1].items()},
                   "outputs": {k: _spec(v) for k, v in function.structured_outputs.items()}}
            for name, function in sorted(signatures.items())}


def describe_tflite(path):
    """The `.tflite` file's input and output tensors, by name (clients look them up by name, not position)."""
    interpreter = tflite_interpreter(model_path=path)

    def tensors(details):
        return [{"name": d["name"], "dtype": np.dtype(d["dtype"]).name, "shape": d["shape_signature"].tolist()}
                for d in sorted(details, key=lambda d: d["name"])]

    return {"inputs": tensors(interpreter.get_input_details()), "outputs": tensors(interpreter.get_output_details())}


def describe_export(path):
    extra = os.path.join(path, export.EXTRA_DIR)
    return {"signatures": describe_saved_model(path),
            "assets.extra": sorted(os.listdir(extra)),
            "tflite": {name: describe_tflite(os.path.join(extra, name))
                       for name in sorted(os.listdir(extra)) if name.endswith(".tflite")}}


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """A tiny untrained model of each family, exported with its .tflite."""
    base = tmp_path_factory.mktemp("contract")
    keras.utils.set_random_seed(11)
    documents = text.DocumentTokenizer(["[PAD]", "[UNK]", "good", "bad", "."], max_sentences=3, max_words=5)
    han = HierarchicalAttentionNetwork(documents.vocabulary_size, 2, embedding_dim=4, gru_units=2, attention_units=2)
    han(np.ones((1, 1, 1), np.int32))
    characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b"])
    graves_text = GravesTextModel(characters.vocabulary_size, units=4, num_layers=2)
    graves_text(np.ones((1, 1), np.int32))
    handwriting = GravesHandwritingModel(units=4, num_layers=2, num_components=2)
    handwriting(np.zeros((1, 1, 3), np.float32))
    paths = {
        "han": export.export_han(han, documents, ["neg", "pos"], str(base / "han")),
        "graves_text": export.export_graves_text(graves_text, characters, str(base / "graves_text")),
        "graves_handwriting": export.export_graves_handwriting(handwriting, (0.5, 0.0), (2.0, 2.0),
                                                               str(base / "graves_handwriting")),
    }
    synthesis = GravesSynthesisModel(characters.vocabulary_size, units=4, num_layers=2, num_components=2,
                                     window_components=2)
    synthesis(synthesis.example_input())
    paths["graves_synthesis"] = export.export_synthesis(synthesis, characters, (0.5, 0.0), (2.0, 2.0),
                                                        str(base / "graves_synthesis"))
    pieces = text.SubwordTokenizer(text.build_subword_model(SENTENCES, 300))
    for name, build in TRANSLATORS.items():
        model = build(pieces.vocabulary_size)
        model((np.ones((1, 1), np.int32), np.ones((1, 1), np.int32)))
        paths[name] = export.export_translation(model, pieces, str(base / name), max_length=6)
    return paths


def test_every_model_of_the_registry_is_exported_with_its_family(exports):
    assert sorted(exports) == sorted(entry.name for entry in registry.MODELS)
    for entry in registry.MODELS:
        with open(os.path.join(exports[entry.name], export.EXTRA_DIR, "zoo.json"), encoding="utf-8") as f:
            metadata = json.load(f)
        assert (metadata["family"], metadata["class_name"]) == (entry.family, entry.class_name)


def test_every_export_keeps_its_signatures_and_tflite_tensors(exports):
    described = {name: describe_export(path) for name, path in exports.items()}
    if os.environ.get("ZOO_WRITE_EXPECTED"):
        with open(EXPECTED, "w", encoding="utf-8") as f:
            json.dump(described, f, indent=1, sort_keys=True)
            f.write("\n")
    with open(EXPECTED, encoding="utf-8") as f:
        expected = json.load(f)
    assert sorted(described) == sorted(expected)
    for name in expected:
        assert described[name] == expected[name], name


# A value of each input name, for a request in TF Serving's REST row format.
ROW_VALUES = {"text": "a good text.", "source": "the cat sat.", "target": "a cat.", "length": 3, "temperature": 0.5,
              "seed": 1, "steps": 4, "bias": 1.0, "beam_size": 2, "alpha": 0.6, "beta": 0.2, "style_text": "ab",
              "style_strokes": [[0.1, 0.2, 0.0], [0.3, 0.1, 1.0]], "style_lengths": 2,
              "strokes": [[0.1, 0.2, 0.0], [0.3, 0.1, 1.0]], "lengths": 2}


def from_row_format(signature, body):
    """The tensors TF Serving's REST API builds from `{"instances": [...]}`: input `name` stacks the rows' values.

    The row format gives every input a row each, so it can only carry inputs whose first dimension is the batch.
    """
    specs = signature.structured_input_signature[1]
    instances = json.loads(body)["instances"]
    return {name: tf.constant([row[name] for row in instances], spec.dtype) for name, spec in specs.items()}


def test_every_signature_takes_tf_servings_row_format(exports):
    for name, path in exports.items():
        for signature_name, signature in tf.saved_model.load(path).signatures.items():
            specs = signature.structured_input_signature[1]
            assert all(spec.shape.rank and spec.shape[0] is None for spec in specs.values()), (name, signature_name)
            body = json.dumps({"instances": [{input_name: ROW_VALUES[input_name] for input_name in specs}] * 2})
            out = signature(**from_row_format(signature, body))
            assert {tuple(value.shape[:1]) for value in out.values()} == {(2,)}, (name, signature_name)


# Property tests: every text signature of every export, on arbitrary Unicode and arbitrary bytes.
TEXT_SIGNATURES = [("han", "serving_default"), ("graves_text", "generate"), ("graves_synthesis", "serving_default"),
                   ("graves_synthesis", "score"),
                   *((name, "serving_default") for name in TRANSLATORS), ("gnmt", "beam_search"), ("gnmt", "greedy"),
                   *((name, "score") for name in TRANSLATORS), ("gnmt", "alignment")]
# Short texts: the synthesis export refuses (the whole request) a text over its 120-character cap.
ANY_TEXT = st.one_of(st.text(max_size=40), st.binary(max_size=40), st.sampled_from(["", " ", "\x00", "a good text."]))


def request(signature, texts):
    """`texts` in each string input, `ROW_VALUES` in the others: a row each (a batch of 0 keeps a value's shape)."""
    specs = signature.structured_input_signature[1]
    return {name: tf.constant(texts, spec.dtype) if spec.dtype == tf.string else
            tf.constant([ROW_VALUES[name]] * len(texts), spec.dtype, [len(texts), *np.shape(ROW_VALUES[name])])
            for name, spec in specs.items()}


@pytest.mark.parametrize("name, signature_name", TEXT_SIGNATURES)
def test_any_text_gets_an_answer_of_the_documented_shape_and_good_rows_are_served_as_alone(exports, name,
                                                                                           signature_name):
    signature = tf.saved_model.load(exports[name]).signatures[signature_name]

    # derandomize: near-tied beams of these untrained models may reorder with the batch size, so a random draw
    # can fail a sound export; fixed draws keep CI reproducible.
    @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(ANY_TEXT, max_size=64))
    def check(texts):
        out = signature(**request(signature, texts))
        for output, value in out.items():
            assert value.shape[0] == len(texts), output
            if value.dtype.is_floating:
                scores = output in ("score", "scores")  # -inf marks a row that was not served, or an empty beam slot
                assert np.all(np.isfinite(value.numpy()) | (scores & np.isneginf(value.numpy()))), output
        valid = out["valid"].numpy() if "valid" in out else np.ones(len(texts), bool)
        for row in np.flatnonzero(valid)[:1]:  # a good row, against the same row alone
            alone = signature(**request(signature, texts[row: row + 1]))
            for output, value in alone.items():
                # The batch pads to its longest row: compare within the shape of the row alone.
                got = out[output].numpy()[(slice(row, row + 1), *(slice(0, n) for n in value.shape[1:]))]
                if value.dtype == tf.string:
                    assert got.tolist() == value.numpy().tolist(), output
                else:
                    # Summed log-probabilities: their tolerance is relative.
                    np.testing.assert_allclose(got, value.numpy(), rtol=1e-4, atol=1e-5, err_msg=output)

    check()
