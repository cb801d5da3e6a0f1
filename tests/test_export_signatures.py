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

from conftest import tflite_interpreter
from zoo import export, text
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
