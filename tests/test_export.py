"""The exported SavedModel is the product: load it the way a server would, without `zoo`."""

import json
import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import MAX_WORDS, pad_ids, run_han_tflite, run_python, tflite_interpreter
from zoo import export
from zoo.export.convert import export_tflite

LOAD_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = serve(text=tf.constant(json.loads(sys.argv[2])))
leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("zoo", "tensorflow_text"))
print(json.dumps({"leaked": leaked, "label": [l.decode() for l in out["label"].numpy()],
                  "probabilities": out["probabilities"].numpy().tolist(),
                  "keys": sorted(out)}))
"""


def test_layout_assets_and_fresh_versions(han_export, trained_han, tokenizer, demo_documents):
    base = os.path.dirname(han_export)
    assert os.path.basename(han_export) == "1"
    assert {"saved_model.pb", "variables", "assets.extra"} <= set(os.listdir(han_export))
    extra = os.path.join(han_export, export.EXTRA_DIR)
    assert sorted(os.listdir(extra)) == ["han.tflite", "labels.txt", "tokenizer.json", "vocab.txt", "zoo.json"]
    with open(os.path.join(extra, "vocab.txt"), encoding="utf-8") as f:
        assert f.read().splitlines() == tokenizer.vocabulary
    with open(os.path.join(extra, "tokenizer.json")) as f:
        assert json.load(f)["max_words"] == MAX_WORDS
    second = export.export_han(trained_han, tokenizer, demo_documents[0].class_names, base, tflite=False)
    assert os.path.basename(second) == "2"
    assert sorted(os.listdir(base)) == ["1", "2"]  # no temp directory left behind


def test_failed_export_leaves_no_version_behind(trained_han, tokenizer, tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("converter died")

    monkeypatch.setattr(export.han, "han_to_tflite", broken)
    with pytest.raises(RuntimeError, match="converter died"):
        export.export_han(trained_han, tokenizer, ["a", "b", "c"], str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_unwritable_export_dir_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(PermissionError, match="cannot write exports to .*file/han"):
        export.check_writable(str(tmp_path / "file" / "han"))


def test_fresh_process_without_zoo_serves_raw_text(han_export, trained_han, tokenizer, demo_documents, tmp_path):
    documents = demo_documents[1].texts[:5]
    result = run_python(["-c", LOAD_WITHOUT_ZOO, han_export, json.dumps(documents)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == []
    assert out["keys"] == ["error", "label", "probabilities", "sentence_attention", "valid", "word_attention", "words"]
    expected = trained_han(tokenizer(tf.constant(documents))).numpy()
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    names = demo_documents[0].class_names
    assert out["label"] == [names[i] for i in expected.argmax(-1)]


def test_saved_model_cli_show_and_run(han_export, tmp_path):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    show = run_python([cli, "show", "--dir", han_export, "--tag_set", "serve", "--signature_def",
                       "serving_default"], cwd=tmp_path)
    assert show.returncode == 0, show.stderr[-3000:]
    assert "inputs['text'] tensor_info:\n      dtype: DT_STRING\n      shape: (-1)" in show.stdout
    for output in ("label", "probabilities", "word_attention", "sentence_attention", "words", "valid", "error"):
        assert f"outputs['{output}']" in show.stdout
    assert "Method name is: tensorflow/serving/predict" in show.stdout
    run = run_python([cli, "run", "--dir", han_export, "--tag_set", "serve", "--signature_def",
                      "serving_default", "--input_exprs", 'text=["It was superb. Koko ba."]'], cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Result for output key label:" in run.stdout


def test_tflite_converted_again_from_the_export_alone(han_export, tokenizer, demo_documents):
    # zoo.export.convert rebuilds the model from the export: its float graph answers as the export's own .tflite,
    # its quantised one close to it and in fewer bytes.
    with open(os.path.join(han_export, export.EXTRA_DIR, "han.tflite"), "rb") as f:
        own = f.read()
    converted, quantised = export_tflite(han_export), export_tflite(os.path.dirname(han_export), quantize=True)
    assert len(quantised) < len(converted)
    for document in demo_documents[1].texts[:4]:
        ids = pad_ids(tokenizer(tf.constant([document])).numpy())
        expected = run_han_tflite(own, ids)["probabilities"]
        np.testing.assert_allclose(run_han_tflite(converted, ids)["probabilities"], expected, atol=1e-6)
        np.testing.assert_allclose(run_han_tflite(quantised, ids)["probabilities"], expected, atol=0.05)


def test_tflite_matches_the_saved_model(han_export, tokenizer, serving_fn, demo_documents):
    with open(os.path.join(han_export, export.EXTRA_DIR, "han.tflite"), "rb") as f:
        flatbuffer = f.read()
    for document in demo_documents[1].texts[:8]:
        served = serving_fn(text=tf.constant([document]))
        ids = tokenizer(tf.constant([document])).numpy()
        lite = run_han_tflite(flatbuffer, pad_ids(ids))
        np.testing.assert_allclose(lite["probabilities"], served["probabilities"].numpy(), atol=1e-4)
        s, w = ids.shape[1], ids.shape[2]
        np.testing.assert_allclose(lite["word_attention"][:, :s, :w], served["word_attention"].numpy(), atol=1e-4)
        np.testing.assert_allclose(lite["sentence_attention"][:, :s], served["sentence_attention"].numpy(), atol=1e-4)
        # The static padding beyond the document carries no attention.
        assert lite["sentence_attention"][:, s:].sum() == 0 and lite["word_attention"][:, :, w:].sum() == 0


def test_attention_is_inspectable_with_the_words(serving_fn):
    out = serving_fn(text=tf.constant(["Koko ba pi. It was superb indeed!"]))
    words = out["words"].numpy()[0]
    assert [w.decode() for w in words[1] if w] == ["it", "was", "superb", "indeed", "!"]
    assert out["word_attention"].shape[1:] == words.shape
    np.testing.assert_array_equal(out["word_attention"].numpy()[0][words == b""], 0.0)
    np.testing.assert_allclose(out["sentence_attention"].numpy().sum(), 1.0, rtol=1e-5)


# Bad input: tests/test_bad_input_matrix.py feeds every signature the same list; this is HAN's own case.

def test_an_empty_document_gets_its_own_answer_and_the_others_are_classified_as_alone(serving_fn):
    good = ["A fine text. It was superb.", "Koko ba pi!"]
    bad = ["<br /><br />", "", "\x00\x1b \t"]
    out = serving_fn(text=tf.constant([bad[0], good[0], bad[1], good[1], bad[2]]))
    assert out["valid"].numpy().tolist() == [False, True, False, True, False]
    assert set(out["error"].numpy()[[0, 2, 4]]) == {b"empty document (no word after tokenisation)"}
    assert (out["error"].numpy()[[1, 3]] == b"").all() and (out["label"].numpy()[[0, 2, 4]] == b"").all()
    alone = serving_fn(text=tf.constant(good))
    for name in ("label", "probabilities", "word_attention", "sentence_attention", "words"):
        got, expected = out[name].numpy()[[1, 3]], alone[name].numpy()
        got = got[tuple(slice(0, n) for n in expected.shape)]  # the batch pads to its longest document
        if expected.dtype == object:
            assert got.tolist() == expected.tolist(), name
        else:
            np.testing.assert_allclose(got, expected, atol=1e-6, err_msg=name)
        if name != "label":
            assert not out[name].numpy()[[0, 2, 4]].any(), name  # zeros and "" for the empty documents


def test_a_nul_byte_loses_no_word(serving_fn):
    out = serving_fn(text=tf.constant(["hello\x00 world", "\x00\x01\x02 hello \x7f\x1b[31m world\x00"]))
    assert [[w for w in row[0] if w] for row in out["words"].numpy().tolist()] == [
        [b"hello", b"world"], [b"hello", b"[", b"31m", b"world"]]
    assert out["valid"].numpy().all()


def test_publish_skips_a_version_taken_meanwhile(tmp_path, monkeypatch):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "saved_model.pb").write_text("another export")
    tmp = tmp_path / ".tmp-export-x"
    tmp.mkdir()
    (tmp / "saved_model.pb").write_text("this export")
    # Our first look predates the other export's rename; the next look is current.
    looks = iter([1])
    real_next_version = export.next_version
    monkeypatch.setattr(export.core, "next_version", lambda base: next(looks, None) or real_next_version(base))
    assert export.core._publish(str(tmp), str(tmp_path)) == str(tmp_path / "2")
    assert (tmp_path / "1" / "saved_model.pb").read_text() == "another export"
    assert (tmp_path / "2" / "saved_model.pb").read_text() == "this export"
    assert sorted(os.listdir(tmp_path)) == ["1", "2"]


def test_dynamic_range_quantised_tflite_is_smaller_and_close(han_export, trained_han, tokenizer, demo_documents):
    with open(os.path.join(han_export, export.EXTRA_DIR, "han.tflite"), "rb") as f:
        flatbuffer = f.read()
    quantised = export.han_to_tflite(trained_han, tokenizer.max_sentences, tokenizer.max_words, quantize=True)
    # The converter quantises weight matrices of 1,024 entries or more: here the embedding and GRU kernels.
    int8 = [t["name"] for t in tflite_interpreter(quantised).get_tensor_details()
            if t["dtype"] == np.int8]
    assert int8 and len(quantised) < len(flatbuffer)
    for document in demo_documents[1].texts[:8]:
        ids = pad_ids(tokenizer(tf.constant([document])).numpy())
        full, small = run_han_tflite(flatbuffer, ids), run_han_tflite(quantised, ids)
        # int8 weights: close to the float model, not equal to it.
        np.testing.assert_allclose(small["probabilities"], full["probabilities"], atol=0.05)
        assert not np.array_equal(small["probabilities"], full["probabilities"])


def test_a_mixed_precision_model_exports_in_float32(trained_han):
    keras.config.set_dtype_policy("mixed_float16")
    try:
        mixed = type(trained_han).from_config(trained_han.get_config())
        mixed(np.ones((1, 1, 1), np.int32))
    finally:
        keras.config.set_dtype_policy("float32")
    mixed.set_weights(trained_han.get_weights())
    assert mixed.word_encoder.compute_dtype == "float16"
    copy = export.portable_copy(mixed)
    assert copy.dtype_policy.name == "float32"
    assert {layer.compute_dtype for layer in copy._flatten_layers()} == {"float32"}
    ids = np.array([[[2, 3, 4, 0], [5, 6, 0, 0]]], np.int32)
    np.testing.assert_allclose(copy(ids).numpy(), trained_han(ids).numpy(), rtol=1e-6)
