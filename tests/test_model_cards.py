"""benchmarks/model_cards.py's Graves measurements: its readers of the published sets, without `zoo`, read what
the recipes read, and its numbers are the recipes' evaluations of the same models.

The data are small sets in the published formats, made here: a Penn Treebank character file, and an IAM-OnDB
of the demo's generated lines packed as the IAM's two archives with its task lists.
"""

import math
import os
import re
import sys
import tarfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO
from zoo import export, text
from zoo.data import demo, handwriting, handwriting_text, text_corpus
from zoo.models import GravesHandwritingModel, GravesSynthesisModel, GravesTextModel
from zoo.models.graves import stream_negative_log_likelihood

sys.path.insert(0, str(REPO / "benchmarks"))
import model_cards  # noqa: E402

PTB_LINES = [" a e r _ b a n k n o t e _ b e r l i t z", " n _ < u n k > _ c o . _ i s", " t h e _ n"]
VALIDATION_FORMS = ["s01-001x", "s01-002x", "s01-006x"]
STROKES_TEST = {"forms": "iam/splits/testset_v.txt", "strokes": "iam/lineStrokes-all.tar.gz", "max_offset": 2000.0}
SYNTHESIS_TEST = {**STROKES_TEST, "transcriptions": "iam/ascii-all.tar.gz", "points_per_character": [5.0, 60.0]}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """A datasets folder: `ptb/ptb.char.*.txt`, and `iam/` with the two archives and `splits/` of 10 demo forms,
    where s01-001x-02 jumps across the line, s01-006x-01 lost two readings and s01-002x's transcription has a
    line too few."""
    base = tmp_path_factory.mktemp("datasets")
    os.makedirs(base / "ptb")
    for split in ("train", "valid", "test"):  # the recipe's reader wants all three
        (base / "ptb" / f"ptb.char.{split}.txt").write_text("".join(line + "\n" for line in PTB_LINES))
    tree = base / "tree"
    demo.write_demo_synthesis(str(tree), lines=30, lines_per_form=3)
    jump = tree / "lineStrokes" / "s01" / "s01-001" / "s01-001x-02.xml"
    first_x = jump.read_text().split('x="', 1)[1].split('"', 1)[0]
    jump.write_text(jump.read_text().replace(f'x="{first_x}"', f'x="{int(first_x) + 5000}"', 1))
    lossy = tree / "lineStrokes" / "s01" / "s01-006" / "s01-006x-01.xml"
    readings = re.findall(r"<Point [^>]*/>", lossy.read_text())
    lossy.write_text(lossy.read_text().replace(readings[2], "").replace(readings[6], ""))
    short = tree / "ascii" / "s01" / "s01-002" / "s01-002x.txt"
    short.write_text(short.read_text().rstrip("\n").rsplit("\n", 1)[0] + "\n")
    os.makedirs(base / "iam" / "splits")
    for archive, folder in (("lineStrokes-all.tar.gz", "lineStrokes"), ("ascii-all.tar.gz", "ascii")):
        with tarfile.open(base / "iam" / archive, "w:gz") as tar:
            tar.add(tree / folder, arcname=folder)
    training_forms = [f"s01-{n:03d}x" for n in range(10) if f"s01-{n:03d}x" not in VALIDATION_FORMS]
    for name, forms in (("trainset.txt", training_forms), ("testset_t.txt", []), ("testset_f.txt", []),
                        ("testset_v.txt", VALIDATION_FORMS)):
        (base / "iam" / "splits" / name).write_text("".join(f" {form}\n" for form in forms))
    return base


def assert_same_lines(read, zoo_lines):
    strokes, texts = read
    assert len(strokes) == len(zoo_lines) > 0
    for ours, theirs in zip(strokes, zoo_lines.strokes):
        np.testing.assert_array_equal(ours, theirs)
    assert texts == getattr(zoo_lines, "texts", [None] * len(zoo_lines))


def test_the_strokes_are_the_prediction_recipes_validation_lines(datasets):
    _, valid, report = handwriting_text.read_prediction_lines(str(datasets / "iam"))
    assert report["dropped"] == {"large_offset": 1} and "s01-001x-02" not in valid.names
    assert_same_lines(model_cards.read_iam_lines(STROKES_TEST, str(datasets)), valid)


def test_filled_strokes_are_the_filling_recipes_validation_lines(datasets):
    _, filled, _ = handwriting_text.read_prediction_lines(str(datasets / "iam"), fill_missing_readings=True)
    _, as_recorded, _ = handwriting_text.read_prediction_lines(str(datasets / "iam"))
    assert filled.points == as_recorded.points + 2
    test = {**STROKES_TEST, "filled_readings": {"reading_interval": handwriting.READING_INTERVAL,
                                                "max_gap": handwriting.MAX_FILLED_GAP}}
    assert_same_lines(model_cards.read_iam_lines(test, str(datasets)), filled)


def test_the_lines_and_texts_are_the_synthesis_recipes_validation_lines(datasets):
    _, valid, report = handwriting_text.read_synthesis_lines(str(datasets / "iam"))
    assert report["skipped_forms"] == ["s01-002x"] and not any(n.startswith("s01-002x") for n in valid.names)
    assert_same_lines(model_cards.read_iam_lines(SYNTHESIS_TEST, str(datasets)), valid)


def test_models_after_the_flag_are_checked_too():
    assert model_cards.requested_models(["a"], ["b", "c"]) == ["a", "b", "c"]
    assert model_cards.requested_models(["a", "b"], []) == ["a", "b"]
    assert model_cards.requested_models(None, []) == model_cards.shipped_models()


def test_the_text_is_the_recipes_test_split(datasets):
    expected = text_corpus.read_corpus("ptb_char", str(datasets / "ptb"))[2]
    assert model_cards.read_ptb_char(str(datasets / "ptb" / "ptb.char.test.txt")) == expected == (
        "aer banknote berlitz\nn <unk> co. is\nthe n\n")


@pytest.fixture(scope="module")
def text_export(datasets, tmp_path_factory):
    keras.utils.set_random_seed(4)
    tokenizer = text.CharacterTokenizer(text.build_character_vocabulary("".join(PTB_LINES).replace(" ", "") + " \n"))
    model = GravesTextModel(tokenizer.vocabulary_size, units=16, num_layers=2)
    model(model.example_input())
    path = export.export_graves_text(model, tokenizer, str(tmp_path_factory.mktemp("text")), tflite=False)
    return model, tokenizer, tf.saved_model.load(path)


def test_bits_per_character_is_the_recipes_test_reading(datasets, text_export):
    model, tokenizer, saved_model = text_export
    card = {"name": "text", "test": {"metric": "bits_per_character", "file": "ptb/ptb.char.test.txt"}}
    value, details = model_cards.measure(card, saved_model, str(datasets))
    ids = tokenizer.encode(text_corpus.read_corpus("ptb_char", str(datasets / "ptb"))[2])
    assert details == {"characters": len(ids) - 1}
    np.testing.assert_allclose(value, stream_negative_log_likelihood(model, ids, 7) / math.log(2), rtol=1e-5)


def test_a_character_models_examples_are_greedy_continuations(text_export):
    model, tokenizer, saved_model = text_export
    card = {"test": {"metric": "bits_per_character"}, "examples": [{"input": "the "}, {"input": ""}]}
    answers = model_cards.example_answers(card, saved_model)
    greedy = model.generate(tokenizer(tf.constant(["the "])), model_cards.GREEDY_CHARACTERS, 0.0)
    assert answers[0] == {"input": "the ", "output": tokenizer.detokenize(greedy)[0].numpy().decode(), "valid": True,
                          "error": ""}
    assert answers[1]["valid"] is False and answers[1]["error"] == "empty prime text"


def recipe_nats(model, lines, mean, std, texts=None):
    """Each whole line's NLL as the recipes evaluate it (normalised, from a pen-up), one line a batch."""
    normalised = handwriting.normalise(lines, mean, std)
    nats = []
    for index, strokes in enumerate(normalised.strokes):
        inputs, targets, weights = handwriting.next_point_windows(handwriting.Handwriting([None], [strokes]),
                                                                  len(strokes))
        if texts is None:
            nats.append(float(model.sequence_negative_log_likelihood(inputs, targets, weights)[0]))
        else:
            char_ids = text.CharacterTokenizer(handwriting_text.SYNTHESIS_ALPHABET)(tf.constant([texts[index]]))
            outputs = model((tf.constant(inputs), char_ids))
            nats.append(float(tf.reduce_sum(model.mixture_density.negative_log_likelihood(targets, outputs))))
    return np.array(nats)


def iam_export(datasets, tmp_path, kind):
    """A small untrained `kind` model on the datasets' IAM, its export's path, the offset statistics and the
    validation lines."""
    keras.utils.set_random_seed(5)
    reader = handwriting_text.read_prediction_lines if kind == "handwriting" else handwriting_text.read_synthesis_lines
    train, valid, _ = reader(str(datasets / "iam"))
    mean, std = handwriting.offset_statistics(train)
    if kind == "handwriting":
        model = GravesHandwritingModel(units=8, num_layers=2, num_components=2)
        model(model.example_input())
        path = export.export_graves_handwriting(model, mean, std, str(tmp_path), tflite=False)
    else:
        tokenizer = text.CharacterTokenizer(handwriting_text.SYNTHESIS_ALPHABET)
        model = GravesSynthesisModel(tokenizer.vocabulary_size, units=8, num_layers=2, num_components=2,
                                     window_components=2)
        model(model.example_input())
        path = export.export_synthesis(model, tokenizer, mean, std, str(tmp_path), tflite=False)
    return model, path, (mean, std), valid


@pytest.mark.parametrize("kind", ["handwriting", "synthesis"])
def test_nats_per_line_is_the_recipes_validation(datasets, tmp_path, kind):
    model, path, (mean, std), valid = iam_export(datasets, tmp_path, kind)
    card_test, texts = (STROKES_TEST, None) if kind == "handwriting" else (SYNTHESIS_TEST, valid.texts)
    card = {"name": kind, "test": {"metric": "nats_per_line", **card_test}}
    value, details = model_cards.measure(card, tf.saved_model.load(path), str(datasets))
    expected = recipe_nats(model, valid, mean, std, texts)
    assert details["lines"] == len(valid)
    np.testing.assert_allclose(value, expected.mean(), rtol=1e-4)
    np.testing.assert_allclose(details["nats_per_point"], expected.sum() / valid.points, rtol=1e-4)


@pytest.mark.parametrize("kind", ["handwriting", "synthesis"])
def test_a_handwriting_models_examples_are_lines_it_wrote_and_their_scores(datasets, tmp_path, kind):
    model, path, (mean, std), _ = iam_export(datasets, tmp_path, kind)
    saved_model = tf.saved_model.load(path)
    inputs = [12, 9, 0] if kind == "handwriting" else ["ab c", "ba", ""]
    card = {"test": {"metric": "nats_per_line"},
            "examples": [{"input": x, "written": {"bias": 1.0, "seed": seed}} for seed, x in enumerate(inputs)]}
    card["examples"] = model_cards.written_lines(saved_model, card["examples"])
    answers = model_cards.example_answers(card, saved_model)

    lines = [np.array(e["strokes"], np.float32).reshape(-1, 3) for e in card["examples"]]
    assert len(lines[2]) == 0 and all(len(line) for line in lines[:2])
    if kind == "handwriting":
        assert [len(line) for line in lines[:2]] == [12, 9]
    assert all(np.array_equal(line, np.round(line, 2)) for line in lines)
    texts = None if kind == "handwriting" else inputs[:2]
    expected = recipe_nats(model, handwriting.Handwriting([None, None], lines[:2]), mean, std, texts)
    np.testing.assert_allclose([a["output"] for a in answers[:2]], expected, rtol=1e-4)
    assert [a["valid"] for a in answers] == [True, True, False] and answers[2]["output"] == 0.0
    assert answers[2]["error"] == ("lengths must be in [1, 12], got 0" if kind == "handwriting" else "empty text")

    assert model_cards.same_answers(answers, [{**a, "output": a["output"] + 0.005} for a in answers])
    assert not model_cards.same_answers(answers, [{**a, "output": a["output"] + 0.05} for a in answers])
    assert not model_cards.same_answers(answers, answers[:2])
    table = model_cards.example_table({**card, "examples": answers})
    assert table[4].startswith(f"| {inputs[0]!r} | bias 1.0, seed 0 | {len(lines[0])} | {answers[0]['output']:.2f} |")
