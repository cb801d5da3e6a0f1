"""IAM-OnDB reader, split, normalisation and next-point windows (zoo.data.handwriting)."""

import os
import tarfile

import numpy as np
import pytest

from zoo.data import DataError
from zoo.data import demo, handwriting

LINE_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <WhiteboardDescription><SensorLocation corner="top_left"/></WhiteboardDescription>
  <StrokeSet>
    <Stroke colour="black" start_time="1.00" end_time="1.10">
      <Point x="10" y="20" time="1.00"/>
      <Point x="13" y="18" time="1.05"/>
    </Stroke>
    <Stroke colour="black" start_time="1.20" end_time="1.20">
      <Point x="20" y="30" time="1.20"/>
    </Stroke>
  </StrokeSet>
</WhiteboardCaptureSession>
"""
# (Δx, Δy up, end of stroke): the first point has offset 0; y is flipped; each stroke's last point ends it.
LINE_OFFSETS = [[0, 0, 0], [3, 2, 1], [7, -12, 1]]
UNTIMED_LINE_XML = LINE_XML.replace(' time="1.05"', "")  # its second point has no time


def write_tree(folder, lines):
    """Writes `{line name: xml}` as IAM-OnDB's lineStrokes/<a01>/<a01-000>/<line>.xml tree."""
    for name, xml in lines.items():
        form = name.rsplit("-", 1)[0]
        path = os.path.join(folder, "lineStrokes", form[:3], form[:7], f"{name}.xml")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="iso-8859-1") as f:
            f.write(xml)


def test_line_becomes_offsets_with_end_of_stroke_bits(tmp_path):
    write_tree(tmp_path, {"a01-000u-01": LINE_XML})
    lines = handwriting.read_iam_ondb(str(tmp_path))
    assert lines.names == ["a01-000u-01"]
    np.testing.assert_array_equal(lines.strokes[0], LINE_OFFSETS)
    assert lines.strokes[0].dtype == np.float32 and lines.points == 3


LOSSY_LINE_XML = """<?xml version="1.0" encoding="ISO-8859-1"?>
<WhiteboardCaptureSession>
  <StrokeSet>
    <Stroke colour="black">
      <Point x="10" y="20" time="1.00"/>
      <Point x="14" y="22" time="1.03"/>
      <Point x="15" y="22" time="1.05"/>
      <Point x="21" y="10" time="1.11"/>
    </Stroke>
    <Stroke colour="black">
      <Point x="30" y="40" time="3.00"/>
      <Point x="31" y="41" time="4.50"/>
    </Stroke>
  </StrokeSet>
</WhiteboardCaptureSession>
"""


def test_filling_puts_back_the_readings_a_gap_lost(tmp_path):
    write_tree(tmp_path, {"a01-000u-01": LOSSY_LINE_XML})
    as_recorded = handwriting.read_iam_ondb(str(tmp_path)).strokes[0]
    np.testing.assert_array_equal(as_recorded, [[0, 0, 0], [4, -2, 0], [1, 0, 0], [6, 12, 1], [9, -30, 0],
                                                [1, -1, 1]])
    filled = handwriting.read_iam_ondb(str(tmp_path), fill_missing_readings=True).strokes[0]
    # 30 ms: one reading lost, at the midpoint; 20 ms: none; 60 ms: three, at the quarters; across the pen lift
    # and over a second (a clock's jump): none.
    np.testing.assert_array_equal(filled, [[0, 0, 0], [2, -1, 0], [2, -1, 0], [1, 0, 0], [1.5, 3, 0], [1.5, 3, 0],
                                           [1.5, 3, 0], [1.5, 3, 1], [9, -30, 0], [1, -1, 1]])


def test_filling_needs_each_points_time(tmp_path):
    write_tree(tmp_path, {"a01-000u-01": UNTIMED_LINE_XML})
    assert len(handwriting.read_iam_ondb(str(tmp_path)).strokes[0]) == 3
    with pytest.raises(DataError, match="a01-000u-01.xml: a <Point> without integer x and y and a time"):
        handwriting.read_iam_ondb(str(tmp_path), fill_missing_readings=True)


def test_archive_and_extracted_tree_read_the_same(tmp_path):
    names = ["a01-000u-02", "a01-000u-01", "b02-117-03"]
    write_tree(tmp_path / "tree", {name: LINE_XML for name in names})
    os.makedirs(tmp_path / "archive")
    with tarfile.open(tmp_path / "archive" / handwriting.ARCHIVE, "w:gz") as tar:
        tar.add(tmp_path / "tree" / "lineStrokes", arcname="lineStrokes")
    from_tree = handwriting.read_iam_ondb(str(tmp_path / "tree"))
    from_archive = handwriting.read_iam_ondb(str(tmp_path / "archive"))
    assert from_tree.names == from_archive.names == sorted(names)
    for a, b in zip(from_tree.strokes, from_archive.strokes):
        np.testing.assert_array_equal(a, b)
    assert len(handwriting.read_iam_ondb(str(tmp_path / "tree"), max_lines=2)) == 2


@pytest.mark.parametrize("xml, message", [
    (LINE_XML.replace("</StrokeSet>", ""), r"a01-000u-01\.xml: line 13: malformed XML"),
    (LINE_XML.replace('x="13" ', ""), r"a01-000u-01\.xml: a <Point> without integer x and y"),
    (LINE_XML.replace('x="13"', 'x="1.5"'), r"a01-000u-01\.xml: a <Point> without integer x and y"),
    ("<WhiteboardCaptureSession><StrokeSet/></WhiteboardCaptureSession>", r"a01-000u-01\.xml: no <Point>"),
])
def test_bad_line_file_is_named(tmp_path, xml, message):
    write_tree(tmp_path, {"a01-000u-01": xml})
    with pytest.raises(DataError, match=message):
        handwriting.read_iam_ondb(str(tmp_path))


def test_missing_data_says_what_to_get(tmp_path):
    with pytest.raises(DataError, match=f"no lineStrokes-all.tar.gz or lineStrokes/ in {tmp_path}"):
        handwriting.read_iam_ondb(str(tmp_path))


def test_truncated_archive_is_a_data_error(tmp_path):
    (tmp_path / handwriting.ARCHIVE).write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(DataError, match="not a readable tar.gz"):
        handwriting.read_iam_ondb(str(tmp_path))


def test_split_keeps_each_form_in_one_part():
    names = [f"a01-{form:03d}u-{line:02d}" for form in range(40) for line in range(1, 4)]
    lines = handwriting.Handwriting(names, [np.zeros((2, 3), np.float32)] * len(names))
    train, valid, test = handwriting.split_by_form(lines)
    forms = [{name.rsplit("-", 1)[0] for name in part.names} for part in (train, valid, test)]
    assert not (forms[0] & forms[1] or forms[0] & forms[2] or forms[1] & forms[2])
    assert [len(f) for f in forms] == [36, 2, 2]
    assert len(train) + len(valid) + len(test) == len(names)


def test_normalised_training_offsets_have_zero_mean_unit_variance():
    rng = np.random.default_rng(0)
    strokes = [np.concatenate([rng.normal([5, -2], [30, 10], (n, 2)), rng.integers(0, 2, (n, 1))], axis=1)
               .astype(np.float32) for n in (50, 80)]
    lines = handwriting.Handwriting(["a", "b"], strokes)
    mean, std = handwriting.offset_statistics(lines)
    normalised = np.concatenate(handwriting.normalise(lines, mean, std).strokes)
    np.testing.assert_allclose(normalised[:, :2].mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised[:, :2].std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(normalised[:, 2], np.concatenate(strokes)[:, 2])


def test_still_pen_has_no_statistics():
    lines = handwriting.Handwriting(["a"], [np.zeros((4, 3), np.float32)])
    with pytest.raises(DataError, match="zero variance"):
        handwriting.offset_statistics(lines)


def test_windows_predict_the_next_point_from_a_pen_up_start():
    p = np.array([[1, 2, 0], [3, 4, 0], [5, 6, 1]], np.float32)
    inputs, targets, weights = handwriting.next_point_windows(handwriting.Handwriting(["a"], [p]), 2)
    np.testing.assert_array_equal(inputs, [[handwriting.START, p[0]], [p[1], p[2]]])  # p[2] feeds a padded target
    np.testing.assert_array_equal(targets, [[p[0], p[1]], [p[2], [0, 0, 0]]])
    np.testing.assert_array_equal(weights, [[1, 1], [1, 0]])


def test_whole_line_batches_hold_each_line_once():
    lengths = [5, 2, 9, 4]
    lines = handwriting.Handwriting(list("abcd"), [np.ones((n, 3), np.float32) for n in lengths])
    batches = list(handwriting.whole_line_batches(lines, 3))
    assert [b[0].shape for b in batches] == [(3, 5, 3), (1, 9, 3)]  # sorted by length, padded per batch
    np.testing.assert_array_equal(np.concatenate([b[2].sum(axis=1) for b in batches]), sorted(lengths))


def test_demo_strokes_read_back_and_split(tmp_path):
    demo.write_demo_strokes(str(tmp_path))
    lines = handwriting.read_iam_ondb(str(tmp_path))
    train, valid, test = handwriting.split_by_form(lines)
    assert len(lines) == 120 and len(train) == 100 and len(valid) == len(test) == 10  # 24 forms of 5 lines
    ends = np.concatenate(lines.strokes)[:, 2]
    assert 0 < ends.mean() < 0.1  # pen lifts between words, not on every point
