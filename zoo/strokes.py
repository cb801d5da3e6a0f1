"""Pictures of handwriting: pen offsets to SVG or PNG, to look at samples.

Strokes are a float array `[n, 3]` of pen offsets `(dx, dy, end_of_stroke)`
as in Graves 2013 (arXiv 1308.0850) §4: point i lies at the sum of offsets
0..i, and `end_of_stroke > 0.5` lifts the pen after point i, so point i + 1
starts a new stroke. y grows upwards (the data reader flips the tracker's
downward y); pictures are drawn the right way up, black ink on white.

    svg_text = to_svg(strokes)             # an SVG document; no matplotlib needed
    to_png(strokes, "sample.png")          # matplotlib's Agg, the pyplot backend is left alone
    save(strokes, "sample.svg")            # the format by extension: .svg or .png

Command line: draw strokes from a file (`.npy`, or `.json` holding the rows
or an object with a "strokes" key), or sample them from a handwriting export
(its `sample` signature):

    python -m zoo.strokes sample.png --strokes strokes.npy
    python -m zoo.strokes sample.svg --export savedmodels/graves_handwriting/1 --steps 700 --bias 1.0 --seed 0
"""

import argparse
import contextlib
import io
import json
import os
import uuid

import numpy as np

_HEIGHT = 300  # pixels of the picture's height, unless that would make it wider than _MAX_ASPECT heights.
_MAX_ASPECT = 10
_MIN_SIDE = 64  # pixels: a stroke that is a dot or a straight line still gets a picture.
_DPI = 100
_SHOWN_BAD_ROWS = 5


def polylines(strokes):
    """The pen-down strokes: a list of `[k, 2]` float arrays of absolute (x, y).

    Args:
        strokes: `[n, 3]` offsets `(dx, dy, end_of_stroke)`, n >= 1: a numpy
            array, nested lists or a tensor. A last stroke without its end
            bit is kept, so are one-point strokes.

    Raises:
        ValueError: on another shape, or NaN or infinite values.
    """
    try:
        strokes = np.asarray(strokes, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"strokes must convert to a float array [n, 3] of (dx, dy, end_of_stroke): {e}") from e
    if strokes.ndim != 2 or strokes.shape[1] != 3 or strokes.shape[0] < 1:
        raise ValueError(f"strokes must have shape [n, 3] with n >= 1 (dx, dy, end_of_stroke), "
                         f"got shape {list(strokes.shape)}")
    bad_rows = np.flatnonzero(~np.isfinite(strokes).all(axis=1))
    if bad_rows.size:
        more = f" and {bad_rows.size - _SHOWN_BAD_ROWS} more" if bad_rows.size > _SHOWN_BAD_ROWS else ""
        raise ValueError(f"strokes contain NaN or infinite values at rows {bad_rows[:_SHOWN_BAD_ROWS].tolist()}{more}")
    points = np.cumsum(strokes[:, :2], axis=0)
    lines = np.split(points, np.flatnonzero(strokes[:, 2] > 0.5) + 1)
    # An end bit on the last point leaves an empty piece after it.
    return [line for line in lines if len(line)]


def to_svg(strokes, path=None, stroke_width=2.0):
    """The strokes as an SVG document (`str`), one `<path>` a stroke; also written to `path` when given.

    The view box is the strokes' bounding box with a margin; `stroke_width`
    is in pixels of the picture's nominal size (300 pixels high, wide
    lines are shrunk to at most 3000 pixels wide).
    """
    lines = polylines(strokes)
    corner, frame, pixels, scale = _layout(lines)
    # SVG's y grows downwards: every y is negated, so the frame's top is at -(its highest y).
    left, top = corner[0], -(corner[1] + frame[1])
    paths = "\n".join(f'    <path d="{_path_data(line)}"/>' for line in lines)
    svg = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels[0]}" height="{pixels[1]}" '
        f'viewBox="{_number(left)} {_number(top)} {_number(frame[0])} {_number(frame[1])}">\n'
        f'  <rect x="{_number(left)}" y="{_number(top)}" width="{_number(frame[0])}" height="{_number(frame[1])}" '
        'fill="white"/>\n'
        f'  <g fill="none" stroke="black" stroke-width="{_number(stroke_width / scale)}" '
        'stroke-linecap="round" stroke-linejoin="round">\n'
        f"{paths}\n"
        "  </g>\n"
        "</svg>\n")
    if path is not None:
        _write(path, svg.encode("utf-8"))
    return svg


def to_png(strokes, path, stroke_width=2.0):
    """Writes the strokes as a PNG to `path`; returns `path`.

    Drawn on a `Figure` with the Agg canvas, not pyplot, so the caller's
    matplotlib backend and open figures are left alone. The picture is
    300 pixels high and as wide as the strokes' aspect asks, up to 3000;
    `stroke_width` is in pixels.
    """
    # Imported here: SVG and the module itself need no matplotlib, and importing it takes a while.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    lines = polylines(strokes)
    corner, frame, pixels, _ = _layout(lines)
    figure = Figure(figsize=tuple(pixels / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(corner[0], corner[0] + frame[0])
    axes.set_ylim(corner[1], corner[1] + frame[1])
    axes.set_aspect("equal")
    width = stroke_width * 72 / _DPI  # matplotlib's widths are in points
    for line in lines:
        if len(line) == 1:  # a line through one point draws nothing
            axes.plot(*line.T, "o", color="black", markersize=width, markeredgewidth=0)
        else:
            axes.plot(*line.T, color="black", linewidth=width, solid_capstyle="round", solid_joinstyle="round")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    _write(path, buffer.getvalue())
    return path


def save(strokes, path):
    """Writes the strokes to `path` as SVG or PNG, by its extension; returns `path`."""
    if _picture_format(path) == ".svg":
        to_svg(strokes, path)
    else:
        to_png(strokes, path)
    return path


def _picture_format(path):
    """`.svg` or `.png`, from the file name."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in (".svg", ".png"):
        raise ValueError(f"cannot tell the picture format of {os.fspath(path)!r}: use a .svg or .png file name")
    return extension


def _layout(lines):
    """Where the picture lies: corner (x, y) and frame (width, height) in stroke units, its size in pixels,
    and pixels per unit."""
    points = np.concatenate(lines)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = high - low
    # A margin from the short side keeps a long line from floating in white; a dot gets one unit.
    margin = 0.1 * max(extent.min(), 0.05 * extent.max()) or 1.0
    extent = extent + 2 * margin
    scale = min(_HEIGHT / extent[1], _MAX_ASPECT * _HEIGHT / extent[0])
    pixels = np.maximum(np.round(extent * scale), _MIN_SIDE).astype(int)
    # The frame takes the picture's aspect (rounding, _MIN_SIDE) with the strokes in its middle.
    frame = pixels / scale
    return (low + high - frame) / 2, frame, pixels, scale


def _path_data(line):
    """SVG path data through the points with y negated; a one-point stroke draws a zero-length segment,
    which round caps show as a dot (a lone moveto draws nothing)."""
    points = line if len(line) > 1 else np.concatenate([line, line])
    coordinates = [f"{_number(x)} {_number(-y)}" for x, y in points]
    return f"M {coordinates[0]} L {' '.join(coordinates[1:])}"


def _number(value):
    # + 0.0 turns -0.0 into 0.0.
    return f"{float(value) + 0.0:.7g}"


def _write(path, data):
    """Writes `data` to a temporary file beside `path`, then renames it: no half-written picture is left."""
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"folder {folder} does not exist")
    temporary = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # open(..., "x") rather than mkstemp: the picture gets the umask's permissions, not 0600.
        with open(temporary, "xb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def _read_strokes(path):
    """Strokes from a `.npy` file, or a `.json` file of rows or of an object with a "strokes" key."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        return np.load(path, allow_pickle=False)
    if extension != ".json":
        raise ValueError(f"--strokes {path}: expected a .npy or .json file")
    with open(path, encoding="utf-8") as file:
        strokes = json.load(file)
    if isinstance(strokes, dict):
        if "strokes" not in strokes:
            raise ValueError(f"--strokes {path}: a JSON object needs a \"strokes\" key")
        strokes = strokes["strokes"]
    return strokes


def _sample(export_dir, steps, bias, seed):
    """`[steps, 3]` offsets from the `sample` signature of a handwriting SavedModel."""
    # Imported here: TensorFlow takes seconds to import and only --export needs it.
    import tensorflow as tf

    try:
        signatures = tf.saved_model.load(export_dir).signatures
        if "sample" not in signatures:
            raise ValueError(f"{export_dir} has no 'sample' signature (it has {sorted(signatures)})")
        strokes = signatures["sample"](steps=tf.constant(steps, tf.int32), bias=tf.constant(bias, tf.float32),
                                       seed=tf.constant(seed, tf.int64))["strokes"]
    except tf.errors.OpError as e:
        # A failed check of the export (steps or bias out of range) hides its message below
        # "Graph execution error:" and node names.
        lines = [line.strip() for line in e.message.splitlines() if line.strip()] or [type(e).__name__]
        raise ValueError(next((line for line in lines if line.startswith("assertion failed:")), lines[0])) from e
    return strokes.numpy()


def main(argv=None):
    """The command line (see the module docstring); errors end it with one line and status 1."""
    parser = argparse.ArgumentParser(prog="zoo.strokes", description="Draws handwriting strokes as SVG or PNG.")
    parser.add_argument("output", help="the picture to write: a .svg or .png file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--strokes", metavar="FILE", help="[n, 3] offsets (dx, dy, end_of_stroke) in .npy or .json")
    source.add_argument("--export", metavar="SAVEDMODEL_DIR", help="a handwriting SavedModel to sample from")
    parser.add_argument("--steps", type=int, default=700, help="points to sample (--export)")
    parser.add_argument("--bias", type=float, default=1.0, help="sampling bias, 0 = unbiased (--export)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (--export)")
    args = parser.parse_args(argv)
    try:
        _picture_format(args.output)  # a bad extension fails before a slow sample
        if args.strokes:
            strokes = _read_strokes(args.strokes)
        else:
            strokes = _sample(args.export, args.steps, args.bias, args.seed)
        print(save(strokes, args.output))
    except (OSError, ValueError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        parser.exit(1, f"{parser.prog}: error: {message}\n")


if __name__ == "__main__":
    main()
