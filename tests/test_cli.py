"""`python -m zoo`: each command prints or draws what its task returns, and every error is one line."""

import io
import json
import re

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf

import zoo
from conftest import REPO, run_python, run_tflite
from test_tasks import SOURCES, exports, tasks  # noqa: F401 (the fixtures)
from zoo import export
from zoo.__main__ import main

OFFSETS = [[0, 0, 0], [1, 0, 0], [0, 1, 1], [2, 0, 0], [0, -1, 1]]


def run(capsys, *argv, stdin=None, monkeypatch=None):
    """`main(argv)` in this process: (exit status, stdout, stderr)."""
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    try:
        main([str(arg) for arg in argv])
        status = 0
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err


def error_line(err, command):
    """The one error line of a command's stderr (asserting there is exactly one)."""
    errors = [line for line in err.splitlines() if line.startswith(f"zoo {command}: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_translate_prints_a_line_a_text_and_warns_of_one_not_translated(exports, tasks, capsys):
    path, _ = exports["gnmt"]
    status, out, err = run(capsys, "translate", "--export", path, *SOURCES)
    assert status == 0
    assert out.splitlines() == [t.text for t in tasks["gnmt"].translate(SOURCES)]
    assert err.splitlines() == ["zoo translate: warning: text 2: empty source text (no piece)"]


def test_translate_reads_standard_input_and_prints_the_n_best_with_scores(exports, tasks, capsys, monkeypatch):
    path, _ = exports["gnmt"]
    status, out, _ = run(capsys, "translate", "--export", path, "--beam_size", 4, "--n_best", 2, "--scores",
                         stdin="the cat sat.\na dog ran on the mat.\n", monkeypatch=monkeypatch)
    assert status == 0
    expected = []
    for hypotheses in tasks["gnmt"].translate([SOURCES[0], SOURCES[2]], beam_size=4, n_best=2):
        expected += [f"{t.score:.4f}\t{t.text}" for t in hypotheses] + [""]
    assert out.split("\n")[:-1] == expected


def test_translate_draws_the_alignment(exports, capsys, tmp_path):
    path, _ = exports["gnmt"]
    status, _, err = run(capsys, "translate", "--export", path, "--alignment", tmp_path / "a.svg", "--target",
                         "a cat.", SOURCES[0])
    assert status == 0 and err.strip() == f"written: {tmp_path / 'a.svg'}"
    assert "<svg" in (tmp_path / "a.svg").read_text()


@pytest.mark.parametrize("args, status, message", [
    (["--export", "{gnmt}", "--beam_size", "0", "x"], 1, r"beam_search: beam_size must be in \[1, 16\], got 0$"),
    (["--export", "{cho}", "--alignment", "{tmp}/a.png", "x"], 1, "ChoEncoderDecoder has no attention"),
    (["--export", "{gnmt}", "--alignment", "{tmp}/a.png", "x", "y"], 2, "one text's alignment, got 2 texts"),
    (["--export", "{gnmt}", "--alignment", "{tmp}/a.gif", "x"], 1, r"use a \.svg or \.png file name$"),
    (["--export", "{gnmt}", "--target", "y", "x"], 2, "give --alignment"),
    (["--export", "{gnmt}", "--alignment", "{tmp}/a.png", "   "], 1, "cannot align: empty source text"),
    (["--export", "{han}", "x"], 1, r"is a classification export; zoo translate takes a translation export$"),
    (["--export", "{tmp}/missing", "x"], 1, "missing: no such directory$"),
    (["--export", "{gnmt}"], 2, "no text: give texts as arguments or lines on standard input$"),
])
def test_translate_errors_are_one_line(exports, capsys, monkeypatch, tmp_path, args, status, message):
    paths = {name: path for name, (path, _) in exports.items()}
    argv = [arg.format(tmp=tmp_path, **paths) for arg in args]
    got, out, err = run(capsys, "translate", *argv, stdin="", monkeypatch=monkeypatch)
    assert got == status and out.strip() == ""
    assert re.search(message, error_line(err, "translate")), err
    assert not (tmp_path / "a.png").exists()


def test_classify_prints_labels_and_writes_the_explanation(exports, tasks, capsys, tmp_path):
    path, _ = exports["han"]
    (tmp_path / "review.txt").write_text("Bad film. Good!")
    documents = ["Good film. Bad, bad film!", "", "Bad film. Good!"]
    status, out, err = run(capsys, "classify", "--export", path, "--html", tmp_path / "why.html", "--png",
                           tmp_path / "why.png", "--file", tmp_path / "review.txt", *documents[:2])
    assert status == 0
    assert out.split("\n")[:-1] == [c.label for c in tasks["han"].classify(documents)]
    assert err.splitlines()[0] == "zoo classify: warning: text 2: empty document (no word after tokenisation)"
    assert (tmp_path / "why.html").read_text() == tasks["han"].explain(documents)
    assert (tmp_path / "why.png").read_bytes()[:4] == b"\x89PNG"
    status, _, err = run(capsys, "classify", "--export", path, "--file", tmp_path / "nothing.txt")
    assert status == 1 and "nothing.txt" in error_line(err, "classify")


def test_generate_prints_what_the_task_writes(exports, tasks, capsys):
    path, _ = exports["graves_text"]
    status, out, _ = run(capsys, "generate", "--export", path, "--length", 12, "--temperature", 0.5, "--seed", 3,
                         "ab", "c")
    assert status == 0
    assert out.split("\n")[:-1] == [g.text for g in tasks["graves_text"].generate(["ab", "c"], 12, 0.5, 3)]
    status, _, err = run(capsys, "generate", "--export", path, "--length", 0, "ab")
    assert status == 1 and re.search(r"generate: length must be in \[1, 10000\], got 0$", error_line(err, "generate"))


def ink(path):
    return (matplotlib.image.imread(path)[..., :3].mean(axis=-1) < 0.5).sum()


def test_write_draws_a_row_a_text_its_alignment_and_a_style(exports, tasks, capsys, tmp_path):
    path, _ = exports["graves_synthesis"]
    lines, window = tmp_path / "lines.png", tmp_path / "window.png"
    status, out, _ = run(capsys, "write", "--export", path, lines, "--text", "ab c", "--text", "cab", "--bias", 2.0,
                         "--alignment", window)
    assert status == 0 and out.split() == [str(lines), str(window)]
    assert ink(lines) > 50 and ink(window) > 50
    one = tmp_path / "one.png"
    assert run(capsys, "write", "--export", path, one, "--text", "ab c", "--bias", 2.0)[0] == 0
    assert matplotlib.image.imread(lines).shape[0] > matplotlib.image.imread(one).shape[0]
    (tmp_path / "style.json").write_text(json.dumps({"strokes": OFFSETS}))
    status, out, _ = run(capsys, "write", "--export", path, tmp_path / "styled.svg", "--text", "cab", "--style",
                         tmp_path / "style.json", "--style_text", "ab")
    assert status == 0 and out.split() == [str(tmp_path / "styled.svg")]


def test_write_samples_a_handwriting_export(exports, tasks, capsys, tmp_path):
    path, _ = exports["graves_handwriting"]
    status, out, _ = run(capsys, "write", "--export", path, tmp_path / "sample.svg", "--steps", 40, "--seed", 2)
    assert status == 0 and out.split() == [str(tmp_path / "sample.svg")]
    assert (tmp_path / "sample.svg").read_text() == tasks["graves_handwriting"].sample(40, 1.0, 2).to_svg()


@pytest.mark.parametrize("args, status, message", [
    (["--export", "{synthesis}", "--text", "ab", "--text", ""], 2, "--text must not be empty"),
    (["--export", "{synthesis}", "--alignment", "{tmp}/w.png"], 2, "--alignment and --style need --text"),
    (["--export", "{synthesis}", "--text", "ab", "--style", "{tmp}/s.npy"], 2, "--style and --style_text go"),
    (["--export", "{synthesis}"], 1, "is a synthesis export: give --text, and no --steps"),
    (["--export", "{synthesis}", "--text", "ab", "--steps", "9"], 1, "and no --steps"),
    (["--export", "{synthesis}", "--text", "ab", "--bias", "-1"], 1, "bias must be finite and >= 0"),
    (["--export", "{synthesis}", "--text", "ab", "--alignment", "{tmp}/w.jpg"], 1, r"\.svg or \.png"),
    (["--export", "{handwriting}", "--text", "ab"], 1, "is a handwriting export: it samples"),
    (["--export", "{handwriting}", "--steps", "0"], 1, r"sample: steps must be in \[1, 5000\], got 0$"),
    (["--export", "{gnmt}", "--steps", "9"], 1, "zoo write takes a synthesis or handwriting export"),
    (["--export", "{tmp}/missing", "--text", "ab"], 1, "missing: no such directory"),
])
def test_write_errors_are_one_line(exports, capsys, tmp_path, args, status, message):
    paths = {"synthesis": exports["graves_synthesis"][0], "handwriting": exports["graves_handwriting"][0],
             "gnmt": exports["gnmt"][0]}
    got, _, err = run(capsys, "write", tmp_path / "out.png", *[arg.format(tmp=tmp_path, **paths) for arg in args])
    assert got == status
    assert re.search(message, error_line(err, "write")), err
    assert not (tmp_path / "out.png").exists()


def test_draw_draws_strokes_from_npy_and_json(capsys, tmp_path):
    np.save(tmp_path / "in.npy", np.array(OFFSETS, np.float32))
    (tmp_path / "in.json").write_text(json.dumps(OFFSETS))
    for source, output in [("in.npy", "out.png"), ("in.json", "out.svg")]:
        status, out, _ = run(capsys, "draw", tmp_path / source, tmp_path / output)
        assert status == 0 and out.strip() == str(tmp_path / output)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "out.svg").read_text().count("<path") == 2


@pytest.mark.parametrize("source, output, message", [
    ("nan.npy", "out.png", r"NaN or infinite values at rows \[2\]"),
    ("missing.npy", "out.png", "missing.npy"),
    ("in.txt", "out.png", r"in.txt: expected strokes in a \.npy or \.json file$"),
    ("object.json", "out.png", r"needs a \"strokes\" key$"),
    ("nan.npy", "out.gif", r"\.svg or \.png"),
])
def test_draw_errors_are_one_line(capsys, tmp_path, source, output, message):
    offsets = np.array(OFFSETS, float)
    offsets[2, 0] = np.nan
    np.save(tmp_path / "nan.npy", offsets)
    (tmp_path / "in.txt").write_text("0 0 0")
    (tmp_path / "object.json").write_text('{"points": []}')
    status, _, err = run(capsys, "draw", tmp_path / source, tmp_path / output)
    assert status == 1 and re.search(message, error_line(err, "draw")), err
    assert not (tmp_path / output).exists()


def test_tflite_writes_an_exports_graph_again(exports, capsys, tmp_path):
    # A translator's .tflite from its export: it translates as the export's SavedModel does.
    path, _ = exports["gnmt"]
    output = tmp_path / "translation.tflite"
    status, _, err = run(capsys, "tflite", "--export", path, output)
    assert status == 0 and f"written: {output}" in err
    served = zoo.load(path).signatures["serving_default"](text=tf.constant(SOURCES[:1]))
    lite = dict(zip(export.TRANSLATION_TFLITE_OUTPUTS, run_tflite(output.read_bytes(),
                                                                  {"text": np.array([SOURCES[0].encode()])})))
    np.testing.assert_allclose(lite["score"], served["score"].numpy(), rtol=1e-4, atol=1e-4)
    status, _, err = run(capsys, "tflite", "--export", path, tmp_path / "model.bin")
    assert status == 2 and "must be a .tflite file" in err


def test_usage_errors_and_help(capsys):
    status, _, err = run(capsys)
    assert status == 2 and "zoo: error: the following arguments are required: COMMAND" in err
    status, _, err = run(capsys, "translate", "x")
    assert status == 2 and "zoo translate: error: the following arguments are required: --export" in err
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "python -m zoo translate --export savedmodels/gnmt" in out


def test_the_command_line_in_a_fresh_process(exports, tasks, tmp_path):
    path, _ = exports["gnmt"]
    result = run_python(["-m", "zoo", "translate", "--export", path, SOURCES[0]], cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == tasks["gnmt"].translate(SOURCES[0]).text + "\n"
    code = "import sys; from zoo.__main__ import main\ntry: main(['write', '--help'])\nexcept SystemExit: pass\n" \
           "print('tensorflow' in sys.modules)"
    result = run_python(["-c", code], cwd=REPO, timeout=60)
    assert result.stdout.splitlines()[-1] == "False"  # --help is quick: no TensorFlow
