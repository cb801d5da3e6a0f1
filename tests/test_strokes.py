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


def test_cli_draws_strokes_from_npy_and_json(tmp_path):
    np.save(tmp_path / "in.npy", np.array(OFFSETS, np.float32))
    (tmp_path / "in.json").write_text('{"strokes": %s}' % OFFSETS)
    for source, output in [("in.npy", "out.png"), ("in.json", "out.svg")]:
        result = run_python(["-m", "zoo.strokes", str(tmp_path / output), "--strokes", str(tmp_path / source)],
                            cwd=REPO, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(tmp_path / output)
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"
    assert_lines(svg_lines((tmp_path / "out.svg").read_text()), [np.array(line) * [1, -1] for line in LINES])


@pytest.mark.parametrize("case", ["nan", "missing", "extension"])
def test_cli_errors_are_one_line(tmp_path, case):
    offsets = np.array(OFFSETS, float)
    offsets[2, 0] = np.nan
    np.save(tmp_path / "in.npy", offsets)
    source, output, message = {
        "nan": ("in.npy", "out.png", r"NaN or infinite values at rows \[2\]"),
        "missing": ("missing.npy", "out.png", "missing.npy"),
        "extension": ("in.npy", "out.gif", r"\.svg or \.png"),
    }[case]
    result = run_python(["-m", "zoo.strokes", str(tmp_path / output), "--strokes", str(tmp_path / source)], cwd=REPO,
                        timeout=60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("zoo.strokes: error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr
    assert not (tmp_path / output).exists()
