"""`zoo.load` and the tasks: each family's task answers as its export's signatures do, its model holds the
export's weights, and what is not a readable export is refused in one line."""

import functools
import json
import math
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from conftest import REPO, computed_once, run_python
from zoo import export, text
from zoo.explain import explain_html
from zoo.models import (GNMT, ChoEncoderDecoder, GravesHandwritingModel, GravesSynthesisModel, GravesTextModel,
                        HierarchicalAttentionNetwork)
from zoo.models.graves import stream_negative_log_likelihood
from zoo.tasks import (DocumentClassifier, ExportError, Handwriting, HandwritingModel, HandwritingWriter,
                       TextGenerator, Translator)

TASKS = {"han": DocumentClassifier, "graves_text": TextGenerator, "graves_handwriting": HandwritingModel,
         "graves_synthesis": HandwritingWriter, "gnmt": Translator, "cho": Translator}
TINY_MAX_SENTENCES = 3  # the tiny HAN's
SOURCES = ["the cat sat.", "", "a dog ran on the mat."]
TARGETS = ["a cat.", "the dog.", "a dog sat on the mat."]


def tiny_models():
    """A tiny untrained model of each family, built: `{name: (model, export function of (model, base))}`."""
    keras.utils.set_random_seed(5)
    words = text.DocumentTokenizer(["[PAD]", "[UNK]", "good", "bad", "film", "."], max_sentences=TINY_MAX_SENTENCES,
                                   max_words=5)
    characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b", "c", "."])
    pieces = text.SubwordTokenizer(text.build_subword_model(["the cat sat on the mat.", "a dog ran."] * 20, 300))
    models = {
        "han": (HierarchicalAttentionNetwork(words.vocabulary_size, 3, embedding_dim=4, gru_units=2,
                                             attention_units=2),
                lambda model, base: export.export_han(model, words, ["bad", "fair", "good"], base, tflite=False)),
        "graves_text": (GravesTextModel(characters.vocabulary_size, units=4, num_layers=2),
                        lambda model, base: export.export_graves_text(model, characters, base, tflite=False)),
        "graves_handwriting": (GravesHandwritingModel(units=4, num_layers=2, num_components=2),
                               lambda model, base: export.export_graves_handwriting(model, (0.5, 0.0), (2.0, 3.0),
                                                                                    base, tflite=False)),
        "graves_synthesis": (GravesSynthesisModel(characters.vocabulary_size, units=4, num_layers=2, num_components=2,
                                                  window_components=2),
                             lambda model, base: export.export_synthesis(model, characters, (0.5, 0.0), (2.0, 3.0),
                                                                         base, tflite=False)),
        "gnmt": (GNMT(pieces.vocabulary_size, embedding_dim=4, units=4, encoder_layers=2, decoder_layers=2,
                      attention_units=4),
                 lambda model, base: export.export_translation(model, pieces, base, max_length=8, beam_size=3,
                                                               alpha=0.4, beta=0.1, tflite=False)),
        "cho": (ChoEncoderDecoder(pieces.vocabulary_size, embedding_dim=4, units=4, maxout_units=2),
                lambda model, base: export.export_translation(model, pieces, base, max_length=8, tflite=False)),
    }
    for model, _ in models.values():
        model(model.example_input())
    return models


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """`{name: (the export's version directory, the model exported)}`, a tiny untrained model of each family.

    Exported once a session, by the first test process that asks: `tiny_models` is seeded, so the others hold
    the same weights (`test_the_model_is_the_exported_one_with_its_weights` checks it in each process)."""
    models = tiny_models()
    paths = computed_once(tmp_path_factory, "tiny_exports",
                          lambda base: {name: write(model, str(base / name)) for name, (model, write) in models.items()})
    return {name: (paths[name], model) for name, (model, _) in models.items()}


@pytest.fixture(scope="session")
def tasks(exports):
    return {name: zoo.load(path) for name, (path, _) in exports.items()}


@functools.cache
def signatures(path):
    """The signatures of the SavedModel at `path`, loaded as TF Serving would."""
    return tf.saved_model.load(path).signatures


def served(path, signature, **inputs):
    """The outputs (NumPy) of a signature of the SavedModel at `path` on `inputs` (Python values)."""
    function = signatures(path)[signature]
    specs = function.structured_input_signature[1]
    return {name: value.numpy()
            for name, value in function(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()}).items()}


def strings(values):
    return [value.decode() for value in values]


def test_load_gives_each_family_its_task(exports, tasks):
    for name, (path, model) in exports.items():
        task = tasks[name]
        assert type(task) is TASKS[name], name
        assert task.path == path and task.family == task.metadata["family"]
        assert task.metadata["class_name"] == type(model).__name__
        assert sorted(task.signatures) == sorted(signatures(path))
        assert repr(task) == f"{TASKS[name].__name__}({path!r}, {type(model).__name__})"
    assert isinstance(tasks["han"].tokenizer, text.DocumentTokenizer)
    assert tasks["graves_text"].tokenizer.vocabulary == tasks["graves_synthesis"].tokenizer.vocabulary
    assert isinstance(tasks["gnmt"].tokenizer, text.SubwordTokenizer)
    assert tasks["graves_handwriting"].tokenizer is None


def test_the_model_is_the_exported_one_with_its_weights(exports, tasks):
    for name, (_, model) in exports.items():
        rebuilt = tasks[name].model
        assert type(rebuilt) is type(model) and rebuilt is tasks[name].model, name
        assert len(rebuilt.get_weights()) == len(model.get_weights())
        for mine, exported in zip(rebuilt.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(mine, exported)


def test_load_takes_the_newest_integer_version(exports, tmp_path):
    path, _ = exports["graves_handwriting"]
    for version in ("2", "10"):
        shutil.copytree(path, tmp_path / version)
    assert zoo.load(tmp_path).path == str(tmp_path / "10")


def test_translate_answers_as_the_export(exports, tasks):
    path, _ = exports["gnmt"]
    translator = tasks["gnmt"]
    assert {key: translator.settings[key] for key in ("beam_size", "alpha", "beta", "max_length")} == {
        "beam_size": 3, "alpha": 0.4, "beta": 0.1, "max_length": 8}
    out = served(path, "serving_default", text=SOURCES)
    translations = translator.translate(SOURCES)
    assert [t.text for t in translations] == strings(out["translation"])
    np.testing.assert_allclose([t.score for t in translations], out["score"])
    assert [t.error for t in translations] == ["", "empty source text (no piece)", ""]
    assert translator.translate(SOURCES[0]) == translations[0]
    # Any argument given: beam_search, the others the export's.
    out = served(path, "beam_search", text=SOURCES, beam_size=[4] * 3, alpha=[0.4] * 3, beta=[0.1] * 3)
    n_best = translator.translate(SOURCES, beam_size=4, n_best=3)
    for row in (0, 2):
        assert [t.text for t in n_best[row]] == strings(out["translations"][row][:3])
        np.testing.assert_allclose([t.score for t in n_best[row]], out["scores"][row][:3])
    assert n_best[1] == [(("", -math.inf, "empty source text (no piece)"))]
    assert translator.translate(SOURCES, beam_size=4)[2] == n_best[2][0]
    assert translator.translate(SOURCES, beam_size=3, alpha=0.4, beta=0.1) == translations


def test_score_and_alignment_answer_as_the_export(exports, tasks):
    path, _ = exports["gnmt"]
    translator = tasks["gnmt"]
    out = served(path, "score", source=SOURCES, target=TARGETS)
    scores = translator.score(SOURCES, TARGETS)
    for row, scored in enumerate(scores):
        length = out["lengths"][row]
        assert scored.score == pytest.approx(out["score"][row], rel=1e-6)
        assert scored.pieces == strings(out["pieces"][row][:length])
        np.testing.assert_array_equal(scored.piece_scores, out["piece_scores"][row][:length])
        assert scored.error == out["error"][row].decode()
    assert scores[0].pieces[-1] == "[END]" and scores[1].score == -math.inf and not scores[1].pieces
    out = served(path, "alignment", source=SOURCES, target=TARGETS)
    alignment = translator.alignment(SOURCES[2], TARGETS[2])
    target = strings(out["target_pieces"][2])
    source = strings(out["source_pieces"][2])
    assert alignment.target_pieces == [p for p in target if p] == scores[2].pieces
    assert alignment.source_pieces == [p for p in source if p]
    np.testing.assert_array_equal(alignment.attention,
                                  out["attention"][2][:len(alignment.target_pieces), :len(alignment.source_pieces)])
    np.testing.assert_allclose(alignment.attention.sum(axis=1), 1.0, rtol=1e-5)
    assert translator.alignment(SOURCES, TARGETS)[1].error == "empty source text (no piece)"


def test_alignment_draws_itself(tasks, tmp_path):
    picture = tasks["gnmt"].alignment(SOURCES[0], TARGETS[0]).save(tmp_path / "a.png")
    assert picture.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("call, message", [
    (lambda t: t.translate("a cat.", beam_size=0), r"^beam_search: beam_size must be in \[1, 16\], got 0$"),
    (lambda t: t.translate("a cat.", alpha=-1.0), r"^beam_search: alpha must be finite and >= 0, got -1$"),
    (lambda t: t.translate("a cat.", n_best=4), r"^n_best must be in \[1, beam_size = 3\], got 4$"),
    (lambda t: t.score(["a", "b"], ["a"]), r"^score: source and target must have the same batch size, got 2 and 1$"),
    (lambda t: t.translate(["a", 1]), "str or a list of str"),
])
def test_a_refused_request_raises_the_exports_message(tasks, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(tasks["gnmt"])


def test_a_model_without_attention_has_no_alignment(tasks):
    assert "alignment" not in tasks["cho"].signatures
    with pytest.raises(ValueError, match="ChoEncoderDecoder has no attention"):
        tasks["cho"].alignment("a cat.", "a cat.")


def test_classify_and_explain_answer_as_the_export(exports, tasks, tmp_path):
    path, _ = exports["han"]
    classifier = tasks["han"]
    documents = ["Good film. Bad, bad film!", "", "film good ."]
    out = served(path, "serving_default", text=documents)
    assert classifier.class_names == ["bad", "fair", "good"]
    results = classifier.classify(documents)
    for row in (0, 2):
        result = results[row]
        assert result.label == out["label"][row].decode() and result.error == ""
        assert list(result.probabilities) == classifier.class_names
        np.testing.assert_array_equal(list(result.probabilities.values()), out["probabilities"][row])
        words = [[w.decode() for w in sentence if w] for sentence in out["words"][row]]
        assert result.words == [sentence for sentence in words if sentence]
        for s, sentence in enumerate(result.words):
            np.testing.assert_array_equal(result.word_attention[s], out["word_attention"][row][s][:len(sentence)])
        np.testing.assert_array_equal(result.sentence_attention, out["sentence_attention"][row][:len(result.words)])
    assert results[0].words == [["good", "film", "."], ["bad", ",", "bad", "film", "!"]]
    assert results[1].error == "empty document (no word after tokenisation)" and results[1].words == []
    assert classifier.classify(documents[0]).label == results[0].label
    assert classifier.explain(documents) == explain_html(out, classifier.class_names, documents)
    assert classifier.draw_explanation(documents[0], tmp_path / "why.png").read_bytes()[:4] == b"\x89PNG"


def test_generate_answers_as_the_export(exports, tasks):
    path, _ = exports["graves_text"]
    primes = ["ab", "", "c.a"]
    out = served(path, "generate", text=primes, length=[7] * 3, temperature=[0.5] * 3, seed=[4] * 3)
    results = tasks["graves_text"].generate(primes, length=7, temperature=0.5, seed=4)
    assert [r.text for r in results] == strings(out["text"])
    assert [r.error for r in results] == ["", "empty prime text", ""]
    assert tasks["graves_text"].generate("ab", 7, 0.5, 4) == results[0]
    with pytest.raises(ValueError, match=r"^generate: temperature must be finite and >= 0"):
        tasks["graves_text"].generate("ab", temperature=-1.0)


def test_bits_per_character_read_the_text_in_order(exports, tasks):
    _, model = exports["graves_text"]
    generator = tasks["graves_text"]
    sample = "abc. cab. a bac.ca" * 3
    ids = generator.tokenizer.encode(sample)
    bits = generator.bits_per_character(sample, window=5)
    assert bits == pytest.approx(stream_negative_log_likelihood(model, ids, 100) / math.log(2), rel=1e-5)
    # Read at once: the mean cross-entropy of each next character.
    logits = model(ids[None, :-1])[0]
    nats = keras.losses.sparse_categorical_crossentropy(ids[1:], logits, from_logits=True).numpy().mean()
    assert bits == pytest.approx(nats / math.log(2), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2 characters"):
        generator.bits_per_character("a")


def test_sample_answers_as_the_export(exports, tasks, tmp_path):
    path, _ = exports["graves_handwriting"]
    out = served(path, "sample", steps=[30], bias=[0.5], seed=[2])
    handwriting = tasks["graves_handwriting"].sample(steps=30, bias=0.5, seed=2)
    np.testing.assert_array_equal(handwriting.points, out["strokes"][0])
    assert handwriting.points.shape == (30, 3) and handwriting.alignment is None and handwriting.finished is None
    assert handwriting.to_svg(tmp_path / "a.svg") == (tmp_path / "a.svg").read_text()
    assert handwriting.to_png(tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert handwriting.save(tmp_path / "b.svg").read_text().startswith("<?xml")
    with pytest.raises(ValueError, match=r"^sample: steps must be in \[1, 5000\], got 0$"):
        tasks["graves_handwriting"].sample(steps=0)
    with pytest.raises(ValueError, match="no alignment"):
        handwriting.save_alignment(tmp_path / "w.png")


def test_write_answers_as_the_export(exports, tasks, tmp_path):
    path, _ = exports["graves_synthesis"]
    texts = ["ab c", "", "cab."]
    out = served(path, "serving_default", text=texts, bias=[1.5] * 3, seed=[1] * 3)
    lines = tasks["graves_synthesis"].write(texts, bias=1.5, seed=1)
    for row, line in enumerate(lines):
        length = out["lengths"][row]
        assert line.text == texts[row] and line.finished == out["finished"][row]
        np.testing.assert_array_equal(line.points, out["strokes"][row][:length])
        np.testing.assert_array_equal(line.alignment, out["alignment"][row][:length, :len(texts[row])])
    assert lines[1].error == "empty text" and lines[1].points.shape == (0, 3)
    assert lines[0].save_alignment(tmp_path / "window.png").read_bytes()[:4] == b"\x89PNG"
    over = tasks["graves_synthesis"].write(["a" * 121, "ab"])  # a row each: refused alone
    assert over[0].error == "text longer than 120 characters: 121" and over[0].points.shape == (0, 3)
    assert not over[1].error and len(over[1].points)


def test_write_in_style_answers_as_the_export(exports, tasks):
    path, _ = exports["graves_synthesis"]
    style = Handwriting([[0.0, 0.0, 1.0], [1.0, 0.5, 0.0], [0.5, -0.2, 1.0]], text="ba")
    out = served(path, "write_in_style", text=["ab c", "c"], bias=[1.0] * 2, seed=[3] * 2,
                 style_strokes=[style.points] * 2, style_lengths=[3, 3], style_text=["ba"] * 2)
    lines = tasks["graves_synthesis"].write(["ab c", "c"], seed=3, style=style)
    for row, line in enumerate(lines):
        length = out["lengths"][row]
        np.testing.assert_array_equal(line.points, out["strokes"][row][:length])
        # The alignment runs over "ba", a space, then the text: the text's columns are kept.
        np.testing.assert_array_equal(line.alignment, out["alignment"][row][:length, 3:3 + len(line.text)])
    with pytest.raises(ValueError, match="needs the text"):
        tasks["graves_synthesis"].write("ab", style=Handwriting(style.points))
    with pytest.raises(ValueError, match=r"must be \[n, 3\]"):
        Handwriting(np.zeros((4, 2)))


def edited_copy(path, tmp_path, **changes):
    """A copy of the export at `path` whose zoo.json has `changes`."""
    copy = tmp_path / "copy" / "1"
    shutil.copytree(path, copy)
    metadata_file = copy / "assets.extra" / "zoo.json"
    metadata_file.write_text(json.dumps({**json.loads(metadata_file.read_text()), **changes}))
    return copy


def unreadable(case, exports, tmp_path):
    """(a loader, a path it refuses) of each case."""
    path, _ = exports["graves_handwriting"]
    if case == "missing":
        return zoo.load, tmp_path / "missing"
    if case == "not an export":
        (tmp_path / "notes").mkdir()
        (tmp_path / "notes" / "readme.txt").write_text("not a model")
        return zoo.load, tmp_path / "notes"
    if case == "no zoo.json":
        copy = edited_copy(path, tmp_path)
        os.remove(copy / "assets.extra" / "zoo.json")
        return zoo.load, copy.parent
    if case == "unknown family":
        return zoo.load, edited_copy(path, tmp_path, family="poetry")
    if case == "newer format":
        return zoo.load, edited_copy(path, tmp_path, format_version=99)
    if case in DAMAGES:
        copy = edited_copy(path, tmp_path)
        DAMAGES[case](copy)
        return zoo.load, copy
    return Translator, path  # another family's task


def _truncate(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def _overwrite(path, size):
    with open(path, "r+b") as f:
        f.write(b"\xff" * size)


# A shipped export damaged on the way (a cut download, a Git LFS pointer in place of the file).
DAMAGES = {
    "truncated variables": lambda copy: _truncate(copy / "variables" / "variables.data-00000-of-00001", 100),
    "overwritten variables": lambda copy: _overwrite(copy / "variables" / "variables.data-00000-of-00001", 100),
    "truncated index": lambda copy: _truncate(copy / "variables" / "variables.index", 20),
    "truncated graph": lambda copy: _truncate(copy / "saved_model.pb", 2000),
    "no variables": lambda copy: shutil.rmtree(copy / "variables"),
}


@pytest.mark.parametrize("case, message", [
    ("missing", r"/missing: no such directory$"),
    ("not an export", r"/notes: not an export: no saved_model.pb in it nor in a version directory <n>/$"),
    ("no zoo.json", r"/copy/1: not a zoo export: no assets.extra/zoo.json$"),
    ("unknown family", r"/copy/1: unknown model family 'poetry'; this zoo knows classification, text, "),
    ("newer format", r"/copy/1: written in export format 99; this zoo reads up to 1: upgrade seq2seq-zoo$"),
    ("another family", r"/graves_handwriting/1: a handwriting export, not translation \(zoo.load picks"),
    *[(case, r"/copy/1: cannot load the SavedModel \(damaged or incomplete files\): ") for case in DAMAGES],
])
def test_what_is_not_a_readable_export_is_refused_in_one_line(exports, tmp_path, case, message):
    load, path = unreadable(case, exports, tmp_path)
    with pytest.raises(ExportError, match=message) as error:
        load(path)
    assert "\n" not in str(error.value)


def test_import_zoo_is_cheap_and_its_tasks_come_on_first_use():
    result = run_python(["-c", "import sys, zoo; print('tensorflow' in sys.modules)"], cwd=REPO, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "False", result.stderr[-2000:]
    assert zoo.load is zoo.tasks.load and zoo.Translator is Translator and "load" in dir(zoo)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        zoo.nothing  # noqa: B018


FRESH_PROCESS = """
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # the SentencePiece ops, as TF Serving links them in
import zoo

paths = json.loads(sys.argv[1])

def served(name, signature, **inputs):
    function = tf.saved_model.load(paths[name]).signatures[signature]
    specs = function.structured_input_signature[1]
    return {k: v.numpy() for k, v in function(**{n: tf.constant(x, specs[n].dtype) for n, x in inputs.items()}).items()}

same = {}
out = served("gnmt", "serving_default", text=["the cat sat.", ""])
got = zoo.load(paths["gnmt"]).translate(["the cat sat.", ""])
same["gnmt"] = [t.text.encode() for t in got] == out["translation"].tolist() and np.allclose(
    [t.score for t in got], out["score"])
out = served("han", "serving_default", text=["Good film.", ""])
got = zoo.load(paths["han"]).classify(["Good film.", ""])
same["han"] = [c.label.encode() for c in got] == out["label"].tolist() and np.allclose(
    [list(c.probabilities.values()) for c in got], out["probabilities"])
out = served("graves_text", "generate", text=["ab"], length=[9], temperature=[1.0], seed=[0])
same["graves_text"] = zoo.load(paths["graves_text"]).generate("ab", 9).text.encode() == out["text"][0]
out = served("graves_handwriting", "sample", steps=[20], bias=[1.0], seed=[0])
same["graves_handwriting"] = np.array_equal(zoo.load(paths["graves_handwriting"]).sample(20).points, out["strokes"][0])
out = served("graves_synthesis", "serving_default", text=["cab"], bias=[1.0], seed=[0])
same["graves_synthesis"] = np.array_equal(zoo.load(paths["graves_synthesis"]).write("cab").points,
                                          out["strokes"][0][:out["lengths"][0]])
print(json.dumps(same))
"""


def test_a_fresh_process_loads_each_family_as_the_export_serves_it(exports, tmp_path):
    paths = {name: path for name, (path, _) in exports.items() if name != "cho"}
    result = run_python(["-c", FRESH_PROCESS, json.dumps(paths)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.splitlines()[-1]) == {name: True for name in paths}
