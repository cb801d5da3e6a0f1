"""IAM-OnDB lines with their text for Graves's §5 synthesis: reader, cleaning, alphabet, splits, batches, demo
(zoo.data.handwriting_text). The data are tiny IAM-like trees made here."""

import filecmp
import os
import tarfile

import numpy as np
import pytest

from zoo.data import DataError
from zoo.data import demo, handwriting, handwriting_text
from zoo.data.handwriting_text import SYNTHESIS_ALPHABET, TranscribedHandwriting
from zoo.text import CharacterTokenizer

from test_handwriting_data import LINE_XML, write_tree

STEP = 7  # tracker units between two points of a test line
# {form: ([points of each stroke file], CSR lines)}. a01-001x has 2 stroke files but 3 CSR lines: skipped.
# b02-117-01 has a 5,000-unit jump (a large offset); b02-117-02 has 2 points a character (too few).
FORMS = {
    "a01-000u": ([240, 200, 90], ["A MOVE to stop Mr . Gaitskell", "from nominating any more", "Zebra % yes"]),
    "a01-001x": ([100, 120], ["one", "two", "three"]),
    "b02-117": ([150, 66], ["a jump of the pen", "too few points for this long text"]),
}
JUMP = ("b02-117-01", 75)  # the line and point that jumps


def line_xml(name, count):
    """A line of `count` points moving right, in strokes of 10 points (the `JUMP` point jumps 5,000 units)."""
    strokes, x = [], 100
    for start in range(0, count, 10):
        points = []
        for index in range(start, min(start + 10, count)):
            x += STEP + (5000 if (name, index) == JUMP else 0)
            points.append(f'<Point x="{x}" y="{500 + index % 3}" time="0.0"/>')
        strokes.append(f'<Stroke colour="black">{"".join(points)}</Stroke>')
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<WhiteboardCaptureSession><StrokeSet>'
            f'{"".join(strokes)}</StrokeSet></WhiteboardCaptureSession>\n')


def write_iam_tree(folder, forms=FORMS):
    """Writes `forms` as IAM-OnDB's lineStrokes/ and ascii/ trees (a01-000u's text in CRLF, as many real files)."""
    for form, (counts, texts) in forms.items():
        for number, count in enumerate(counts, 1):
            path = os.path.join(folder, "lineStrokes", form[:3], form[:7], f"{form}-{number:02d}.xml")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="iso-8859-1") as f:
                f.write(line_xml(f"{form}-{number:02d}", count))
        path = os.path.join(folder, "ascii", form[:3], form[:7], f"{form}.txt")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        newline = "\r\n" if form == "a01-000u" else "\n"
        with open(path, "w", encoding="iso-8859-1", newline=newline) as f:
            # The OCR section is the printed prompt, broken differently: it must not be read as the lines' text.
            f.write(f"OCR:\n\nprinted prompt text\n{' '.join(texts)}\n\nCSR:\n\n" + "\n\n".join(texts) + "\n")


def expected_lines(forms=FORMS, skip=("a01-001x",)):
    return {f"{form}-{number:02d}": (count, text) for form, (counts, texts) in forms.items() if form not in skip
            for number, (count, text) in enumerate(zip(counts, texts), 1)}


@pytest.mark.parametrize("packed", [False, True])
def test_texts_align_with_their_stroke_files(tmp_path, packed):
    write_iam_tree(tmp_path / "tree")
    data_dir = tmp_path / "tree"
    if packed:
        data_dir = tmp_path / "archives"
        os.makedirs(data_dir)
        for archive, folder in ((handwriting.ARCHIVE, "lineStrokes"), (handwriting_text.ASCII_ARCHIVE, "ascii")):
            with tarfile.open(data_dir / archive, "w:gz") as tar:
                tar.add(tmp_path / "tree" / folder, arcname=folder)
    lines, skipped = handwriting_text.read_iam_ondb_transcribed(str(data_dir))
    assert isinstance(lines, TranscribedHandwriting)
    assert skipped == ["a01-001x"]  # 2 stroke files, 3 CSR lines
    expected = expected_lines()
    assert lines.names == sorted(expected)
    assert [(len(s), t) for s, t in zip(lines.strokes, lines.texts)] == [expected[n] for n in lines.names]
    np.testing.assert_array_equal(lines.strokes[0][1], [STEP, 0 - 1, 0])  # as read_iam_ondb: Δy up, no end


def test_quick_runs_read_whole_forms(tmp_path):
    write_iam_tree(tmp_path)
    lines, skipped = handwriting_text.read_iam_ondb_transcribed(str(tmp_path), max_lines=1)
    assert lines.names == ["a01-000u-01", "a01-000u-02", "a01-000u-03"] and skipped == []


def test_transcription_without_csr_is_named(tmp_path):
    write_iam_tree(tmp_path)
    path = tmp_path / "ascii" / "b02" / "b02-117" / "b02-117.txt"
    path.write_text("OCR:\n\nsome text\n")
    with pytest.raises(DataError, match=r"b02-117\.txt: no CSR: section"):
        handwriting_text.read_iam_ondb_transcribed(str(tmp_path))


def test_missing_transcriptions_say_what_to_get(tmp_path):
    write_iam_tree(tmp_path)
    os.rename(tmp_path / "ascii", tmp_path / "elsewhere")
    with pytest.raises(DataError, match=f"no ascii-all.tar.gz or ascii/ in {tmp_path}"):
        handwriting_text.read_iam_ondb_transcribed(str(tmp_path))


def test_cleaning_counts_each_reason(tmp_path):
    write_iam_tree(tmp_path)
    lines, _ = handwriting_text.read_iam_ondb_transcribed(str(tmp_path))
    # The reader never makes an empty text (blank CSR lines are skipped): add one as another source might.
    lines.names.append("c03-000-01")
    lines.strokes.append(np.ones((40, 3), np.float32))
    lines.texts.append("  ")
    kept, dropped = handwriting_text.clean_transcribed_lines(lines)
    assert dropped == {"large_offset": 1, "empty_text": 1, "points_per_character": 1}
    assert kept.names == ["a01-000u-01", "a01-000u-02", "a01-000u-03"]
    assert kept.texts == FORMS["a01-000u"][1]
    assert handwriting_text.clean_transcribed_lines(lines, max_offset=10_000)[1]["large_offset"] == 0


def test_alphabet_is_a_character_vocabulary_and_unknown_characters_are_unk():
    assert SYNTHESIS_ALPHABET[:2] == ("[PAD]", "[UNK]") and len(SYNTHESIS_ALPHABET) == 74
    assert {" ", "a", "z", "A", "Y", "0", "9", ".", ",", "'", '"', "#"} <= set(SYNTHESIS_ALPHABET)
    tokenizer = CharacterTokenizer(SYNTHESIS_ALPHABET)
    ids = tokenizer(["Zebra % yes", "Qé"]).numpy()
    index = SYNTHESIS_ALPHABET.index
    assert ids[0].tolist() == [1, index("e"), index("b"), index("r"), index("a"), index(" "), 1, index(" "),
                               index("y"), index("e"), index("s")]
    assert ids[1].tolist()[:2] == [1, 1]  # never an error


def test_task_split_assigns_forms_as_graves(tmp_path):
    forms = {"a01-000u": 3, "b02-117": 2, "d04-081": 2, "e05-000": 1, "z01-000z": 1}
    names = [f"{form}-{n:02d}" for form, count in forms.items() for n in range(1, count + 1)]
    lines = TranscribedHandwriting(names, [np.zeros((2, 3), np.float32)] * len(names), [f"t {n}" for n in names])
    lists = {"trainset.txt": ["a01-000u"], "testset_v.txt": ["b02-117"], "testset_t.txt": ["e05-000"],
             "testset_f.txt": ["d04-081", "c03-000"]}  # c03-000 has no line here; z01-000z is on no list
    for file_name, ids in lists.items():
        (tmp_path / file_name).write_text("".join(f" {form}\n" for form in ids))
    train, valid, info = handwriting_text.split_iam_ondb_tasks(lines, str(tmp_path))
    assert info == {"split": "iam_ondb_task_lists", "unlisted_lines": 1}
    assert {n.rsplit("-", 1)[0] for n in train.names} == {"a01-000u", "d04-081", "e05-000"} and len(train) == 6
    assert valid.names == ["b02-117-01", "b02-117-02"] and valid.texts == ["t b02-117-01", "t b02-117-02"]
    assert isinstance(train, TranscribedHandwriting) and train.texts == [f"t {n}" for n in train.names]

    (tmp_path / "testset_t.txt").write_text(" e05-000\n a01-000u\n")
    with pytest.raises(DataError, match=r"testset_t\.txt: form a01-000u is also on trainset\.txt"):
        handwriting_text.split_iam_ondb_tasks(lines, str(tmp_path))
    (tmp_path / "testset_t.txt").write_text(" e05-000\n")
    os.remove(tmp_path / "testset_v.txt")
    with pytest.raises(DataError, match=r"testset_v\.txt: cannot read"):
        handwriting_text.split_iam_ondb_tasks(lines, str(tmp_path))


def test_prediction_lines_drop_pen_jumps_and_split_by_the_task_lists(tmp_path):
    jump = LINE_XML.replace('x="13"', f'x="{13 + int(handwriting_text.MAX_OFFSET) + 1}"')
    write_tree(tmp_path, {"a01-000u-01": LINE_XML, "a01-000u-02": jump, "b02-117-01": LINE_XML,
                          "c03-000-01": LINE_XML})
    os.makedirs(tmp_path / "splits")
    for file_name, forms in (("trainset.txt", ["a01-000u"]), ("testset_t.txt", []), ("testset_f.txt", []),
                             ("testset_v.txt", ["b02-117"])):
        (tmp_path / "splits" / file_name).write_text("".join(f" {form}\n" for form in forms))
    train, valid, report = handwriting_text.read_prediction_lines(str(tmp_path))
    assert (train.names, valid.names) == (["a01-000u-01"], ["b02-117-01"])
    assert report == {"kept": 3, "dropped": {"large_offset": 1}, "split": "iam_ondb_task_lists", "unlisted_lines": 1}


@pytest.mark.parametrize("splits_dir", [None, "no such folder"])
def test_task_split_falls_back_to_split_by_form(splits_dir):
    names = [f"a01-{form:03d}u-{line:02d}" for form in range(40) for line in range(1, 3)]
    lines = TranscribedHandwriting(names, [np.zeros((2, 3), np.float32)] * len(names), ["x"] * len(names))
    train, valid, info = handwriting_text.split_iam_ondb_tasks(lines, splits_dir)
    _, by_form_valid, _ = handwriting.split_by_form(lines)
    assert info["split"] == "split_by_form"
    assert valid.names == by_form_valid.names and len(train) + len(valid) == len(lines)  # test trains, as Graves


def test_dataset_batches_whole_lines_shifted_by_one_point():
    rng = np.random.default_rng(0)
    lengths, texts = [3, 5, 9, 4], ["ab", "Zoo", "hello you", "x"]
    strokes = [np.concatenate([rng.normal(size=(n, 2)), rng.integers(0, 2, (n, 1))], axis=1).astype(np.float32)
               for n in lengths]
    lines = TranscribedHandwriting(list("abcd"), strokes, texts)
    tokenizer = CharacterTokenizer(SYNTHESIS_ALPHABET)
    dataset = handwriting_text.synthesis_dataset(lines, tokenizer, batch_size=2, bucket_boundaries=[5], max_points=8)
    rows, times = {}, set()
    for (inputs, char_ids), targets, weights in dataset.as_numpy_iterator():
        assert inputs.shape == targets.shape and inputs.shape[:2] == weights.shape and inputs.shape[2] == 3
        assert inputs.dtype == targets.dtype == weights.dtype == np.float32 and char_ids.dtype == np.int32
        times.add(inputs.shape[1])
        for row in range(len(weights)):
            length = int(weights[row].sum())
            rows[length] = (inputs[row], char_ids[row], targets[row], weights[row])
    assert times == {4, 8}  # bucketed: 3 and 4 points, 5 and 9 (cut to 8) points
    for line, (length, text) in enumerate(zip([3, 5, 8, 4], texts)):
        inputs, char_ids, targets, weights = rows[length]
        np.testing.assert_array_equal(weights, np.arange(len(weights)) < length)
        np.testing.assert_array_equal(targets[:length], strokes[line][:length])
        np.testing.assert_array_equal(inputs[0], handwriting.START)
        np.testing.assert_array_equal(inputs[1:length], strokes[line][: length - 1])
        assert not inputs[length:].any() and not targets[length:].any()
        expected_ids = tokenizer([text]).numpy()[0]
        np.testing.assert_array_equal(char_ids[: len(text)], expected_ids)
        assert not char_ids[len(text):].any()


def test_demo_set_is_deterministic_and_goes_through_the_reader(tmp_path):
    demo.write_demo_synthesis(str(tmp_path / "first"))
    demo.write_demo_synthesis(str(tmp_path / "second"))
    files = sorted(os.path.relpath(os.path.join(root, name), tmp_path / "first")
                   for root, _, names in os.walk(tmp_path / "first") for name in names)
    assert len(files) == 420 + 70 and not any(name.endswith(".tmp") for name in files)
    assert filecmp.cmpfiles(tmp_path / "first", tmp_path / "second", files, shallow=False)[0] == files
    lines, skipped = handwriting_text.read_iam_ondb_transcribed(str(tmp_path / "first"))
    assert len(lines) == 420 and skipped == []
    assert set("".join(lines.texts)) == set(demo.DEMO_FONT) | {" "}
    kept, dropped = handwriting_text.clean_transcribed_lines(lines)
    assert len(kept) == len(lines) and not any(dropped.values())
    train, valid, info = handwriting_text.split_iam_ondb_tasks(lines)
    assert info["split"] == "split_by_form" and len(valid) > 0 and len(train) + len(valid) == len(lines)
