import re
import xml.etree.ElementTree as ET

import matplotlib.image
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, run_python

from zoo import strokes

SVG = "{http://www.w3.org/2000/svg}"
# Two strokes: (0,0) → (1,0) → (1,1), pen up, (3,1) → (3,0).
OFFSETS = [[0, 0, 0], [1, 0, 0], [0, 1, 1], [2, 0, 0], [0, -1, 1]]
LINES = [[[0, 0], [1, 0], [1, 1]], [[3, 1], [3, 0]]]


def assert_lines(actual, expected):
    assert len(actual) == len(expected)
    for line, want in zip(actual, expected):
        np.testing.assert_allclose(line, want)


def svg_lines(svg):
    """The (x, y) points of each `<path>` of an SVG document, as drawn (y down)."""
    paths = ET.fromstring(svg).iter(f"{SVG}path")
    return [np.array(re.findall(r"-?[\d.e+-]+", path.get("d")), float).reshape(-1, 2) for path in paths]


@pytest.mark.parametrize("to_input", [lambda a: a, np.array, tf.constant], ids=["list", "numpy", "tensor"])
def test_polylines_are_cumulative_and_split_after_end_bits(to_input):
    assert_lines(strokes.polylines(to_input(np.array(OFFSETS, np.float32).tolist())), LINES)


def test_polylines_keep_a_last_stroke_without_end_bit_and_one_point_strokes():
    lines = strokes.polylines([[5, 5, 1], [1, 0, 0], [1, 1, 0]])
    assert_lines(lines, [[[5, 5]], [[6, 5], [7, 6]]])


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_polylines_name_the_rows_with_nan_or_infinity(bad):
    offsets = np.array(OFFSETS, float)
    offsets[3, 1] = bad
    with pytest.raises(ValueError, match=r"NaN or infinite values at rows \[3\]"):
        strokes.polylines(offsets)


@pytest.mark.parametrize("bad, shape", [([], r"\[0\]"), (np.zeros((0, 3)), r"\[0, 3\]"), ([[1, 2]], r"\[1, 2\]"),
                                        (np.zeros((1, 2, 3)), r"\[1, 2, 3\]")])
def test_polylines_reject_other_shapes(bad, shape):
    with pytest.raises(ValueError, match=rf"shape \[n, 3\].*got shape {shape}"):
        strokes.polylines(bad)


def test_polylines_reject_ragged_rows():
    with pytest.raises(ValueError, match=r"\[n, 3\]"):
        strokes.polylines([[0, 0, 0], [1, 1]])


def test_svg_has_one_path_per_stroke_with_y_negated(tmp_path):
    path = tmp_path / "sample.svg"
    svg = strokes.to_svg(OFFSETS, path=path)
    assert path.read_text(encoding="utf-8") == svg
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert_lines(svg_lines(svg), [np.array(line) * [1, -1] for line in LINES])
    # The view box holds every point, with y negated.
    x, y, width, height = map(float, root.get("viewBox").split())
    assert x < 0 and x + width > 3 and y < -1 and y + height > 0
    assert [p.name for p in tmp_path.iterdir()] == ["sample.svg"]  # no temp file left


def test_svg_draws_a_one_point_stroke_as_a_dot():
    (dot,) = svg_lines(strokes.to_svg([[2, 3, 1]]))
    np.testing.assert_allclose(dot, [[2, -3], [2, -3]])


def test_png_is_valid_and_shows_black_ink_on_white(tmp_path):
    path = tmp_path / "sample.png"
    assert strokes.to_png(OFFSETS, path) == path
    assert path.read_bytes()[:4] == b"\x89PNG"
    brightness = matplotlib.image.imread(path)[..., :3].mean(axis=-1)
    assert (brightness < 0.3).sum() > 100  # ink
    assert (brightness > 0.95).mean() > 0.8  # paper
    # The strokes are 3 wide and 1 high: so is the picture.
    assert brightness.shape[1] > 2 * brightness.shape[0]


def test_png_does_not_import_pyplot(tmp_path):
    # pyplot is what picks and switches the user's backend; to_png must not bring it in.
    code = ("import sys; from zoo import strokes; strokes.to_png([[0, 0, 0], [1, 1, 1]], sys.argv[1]); "
            "print('matplotlib.pyplot' in sys.modules)")
    result = run_python(["-c", code, str(tmp_path / "a.png")], cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_save_picks_the_format_by_extension(tmp_path):
    strokes.save(OFFSETS, tmp_path / "a.SVG")
    strokes.save(OFFSETS, tmp_path / "b.png")
    assert (tmp_path / "a.SVG").read_text().startswith("<?xml")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\.svg or \.png"):
        strokes.save(OFFSETS, tmp_path / "c.jpg")
    assert not (tmp_path / "c.jpg").exists()


def test_invalid_strokes_write_nothing(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        strokes.save([[0, 0, 0], [np.nan, 0, 0]], tmp_path / "a.png")
    assert list(tmp_path.iterdir()) == []


# A batch: rows of different widths, so each row's ink is told apart.
ROWS = [OFFSETS, [[0, 0, 0], [5, 0, 0], [0, 1, 1]], [[0, 0, 0], [0, 1, 0], [1, 0, 1]]]


def padded(rows):
    """`[batch, T, 3]` zero-padded, and the lengths."""
    batch = np.zeros((len(rows), max(map(len, rows)), 3), np.float32)
    for i, row in enumerate(rows):
        batch[i, :len(row)] = row
    return batch, [len(row) for row in rows]


def ink_rows(path):
    """The brightness of a PNG, and which of its pixel rows hold ink."""
    brightness = matplotlib.image.imread(path)[..., :3].mean(axis=-1)
    return brightness, (brightness < 0.5).any(axis=1)


def test_batch_rows_cut_each_row_to_its_length():
    batch, lengths = padded(ROWS)
    for rows in (strokes.batch_rows(batch, lengths), strokes.batch_rows(tf.constant(batch), tf.constant(lengths)),
                 strokes.batch_rows(ROWS)):
        assert [row.tolist() for row in rows] == [np.array(row, np.float32).tolist() for row in ROWS]
    for bad in ([5, 3], [6, 3, 3], [5, -1, 3]):
        with pytest.raises(ValueError, match="do not fit"):
            strokes.batch_rows(batch, bad)
    for bad in ([], np.zeros(3)):
        with pytest.raises(ValueError, match="non-empty list of arrays"):
            strokes.batch_rows(bad)


def test_batch_svg_stacks_the_rows_top_to_bottom_each_from_the_left():
    batch, lengths = padded(ROWS)
    svg = strokes.to_svg_batch(batch, lengths=lengths)
    assert strokes.to_svg_batch(ROWS) == svg  # a list or a padded batch: the same picture
    paths = svg_lines(svg)  # y down: row 0 on top
    rows = [paths[:2], paths[2:3], paths[3:]]
    assert [len(p) for p in paths] == [3, 2, 3, 3]
    boxes = [(np.concatenate(row).min(axis=0), np.concatenate(row).max(axis=0)) for row in rows]
    for (low, _), (_, high) in zip(boxes[1:], boxes[:-1]):
        assert low[1] > high[1]  # a gap between the rows
    assert [low[0] for low, _ in boxes] == [0, 0, 0]
    # Each row keeps its own shape: row 1 is (0,0) → (5,0) → (5,1), shifted.
    np.testing.assert_allclose(np.diff(rows[1][0], axis=0), [[5, 0], [0, -1]])


def test_batch_png_is_taller_than_one_line_with_ink_in_each_row_band(tmp_path):
    same = [OFFSETS] * 3  # equal rows: each band is a third of the picture
    strokes.save(OFFSETS, tmp_path / "one.png")
    assert strokes.save_batch(same, tmp_path / "three.png") == tmp_path / "three.png"
    one, _ = ink_rows(tmp_path / "one.png")
    three, inked = ink_rows(tmp_path / "three.png")
    assert three.shape[0] > 2.5 * one.shape[0] and three.shape[1] == one.shape[1]
    bands = np.array_split(inked, 3)
    assert all(band.sum() > 0.5 * one.shape[0] * 0.6 for band in bands), [band.sum() for band in bands]
    assert not all(inked)  # gaps between the rows
    strokes.save_batch(ROWS, tmp_path / "rows.svg")
    assert (tmp_path / "rows.svg").read_text().startswith("<?xml")


def test_batch_leaves_an_empty_row_blank_and_names_a_bad_row(tmp_path):
    batch, _ = padded(ROWS)
    assert len(svg_lines(strokes.to_svg_batch(batch, lengths=[5, 0, 3]))) == 3
    with pytest.raises(ValueError, match="every row of the batch is empty"):
        strokes.to_svg_batch(batch, lengths=[0, 0, 0])
    bad = [OFFSETS, [[0, 0, 0], [np.nan, 0, 0]]]
    with pytest.raises(ValueError, match=r"row 1: strokes contain NaN or infinite values at rows \[1\]"):
        strokes.save_batch(bad, tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []


def one_hot_window(steps, characters, character):
    phi = np.zeros((steps, characters), np.float32)
    phi[:, character] = 1.0
    return phi


def test_alignment_png_draws_the_weights_a_character_a_row_first_on_top(tmp_path):
    text = "ab cd"
    # Columns past the text (a batch's padding) are dropped.
    first = strokes.save_alignment(one_hot_window(40, 7, 0), text, tmp_path / "first.png")
    last = strokes.save_alignment(one_hot_window(40, 5, 4), text, tmp_path / "last.png")
    a, _ = ink_rows(first)
    b, _ = ink_rows(last)
    assert a.shape == b.shape and a.shape[1] > 3 * a.shape[0] > 300  # wide: a point a column
    only_a, only_b = (a < 0.3) & (b > 0.7), (b < 0.3) & (a > 0.7)
    assert only_a.sum() > 1000 and only_b.sum() > 1000  # weights drawn dark
    assert np.nonzero(only_a)[0].mean() < np.nonzero(only_b)[0].mean()  # the first character on top
    assert (a > 0.95).mean() > 0.5  # white where the weights are zero


def test_alignment_with_strokes_draws_the_line_above_and_a_batch_a_pair_a_row(tmp_path):
    phi = one_hot_window(5, 3, 1)
    strokes.save_alignment(phi, "abc", tmp_path / "plain.png")
    strokes.save_alignment(phi, "abc", tmp_path / "ink.png", strokes=OFFSETS)
    strokes.save_alignment([phi, phi[:3]], ["abc", "ab"], tmp_path / "batch.svg", strokes=[OFFSETS, ROWS[1]])
    plain, _ = ink_rows(tmp_path / "plain.png")
    ink, inked = ink_rows(tmp_path / "ink.png")
    assert ink.shape[0] > plain.shape[0] + 50 and inked[:50].any()
    assert (tmp_path / "batch.svg").read_text().count("<svg") == 1


@pytest.mark.parametrize("alignment, text, line, message", [
    (np.zeros((5, 2)), "abc", None, r"row 0: .*U >= 3.*got shape \[5, 2\]"),
    (np.zeros((5, 3)), "", None, r"row 0: .*at least one"),
    (np.zeros((0, 3)), "abc", None, r"row 0: .*T >= 1"),
    (np.full((5, 3), np.nan), "abc", None, r"row 0: the alignment must be finite"),
    (np.zeros((4, 3)), "abc", OFFSETS, r"row 0: the alignment has 4 points, its strokes 5"),
    ([np.zeros((5, 3))], ["abc", "ab"], None, r"1 alignments, 2 texts"),
])
def test_alignment_rejects_what_does_not_fit(tmp_path, alignment, text, line, message):
    with pytest.raises(ValueError, match=message):
        strokes.save_alignment(alignment, text, tmp_path / "a.png", strokes=line)
    assert list(tmp_path.iterdir()) == []
