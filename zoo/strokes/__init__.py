"""Pictures of handwriting: pen offsets to SVG or PNG, to look at samples.

Strokes are a float array `[n, 3]` of pen offsets `(dx, dy, end_of_stroke)`
as in Graves 2013 (arXiv 1308.0850) §4: point i lies at the sum of offsets
0..i, and `end_of_stroke > 0.5` lifts the pen after point i, so point i + 1
starts a new stroke. y grows upwards (the data reader flips the tracker's
downward y); pictures are drawn the right way up, black ink on white.

    svg_text = to_svg(strokes)             # an SVG document; no matplotlib needed
    to_png(strokes, "sample.png")          # matplotlib's Agg, the pyplot backend is left alone
    save(strokes, "sample.svg")            # the format by extension: .svg or .png

A batch draws one line a row, top to bottom, each row from its left edge:
a list of `[n_i, 3]` arrays, or `[batch, T, 3]` cut to each row's `lengths`
(as a synthesis export returns them). The window of a synthesis model,
φ(t, u) `[T, U]`, draws as Graves's fig. 13: a character a row, a point a
column, darker = more weight; with `strokes`, the line is drawn above it.

    save_batch([strokes_a, strokes_b], "lines.png")  # also to_svg_batch(...): the SVG document
    save_batch(out["strokes"], "lines.svg", lengths=out["lengths"])
    save_alignment(phi, "a new tale", "window.png", strokes=strokes)  # lists of each: one pair a row

Command line (`python -m zoo`): draw strokes from a file (`.npy`, or `.json`
holding the rows or an object with a "strokes" key), sample them from a
handwriting export, or write texts with a synthesis export:

    python -m zoo draw strokes.npy sample.png
    python -m zoo write --export savedmodels/graves_handwriting sample.svg --steps 700 --bias 1.0 --seed 0
    python -m zoo write --export savedmodels/graves_synthesis_iam lines.png --text "a new tale" \\
        --text "vote on a lion" --bias 2.0 --seed 0 --alignment window.png
"""

import contextlib
import io
import os
import uuid

import numpy as np

_HEIGHT = 300  # pixels of a line's height, unless the picture would then be over _MAX_ASPECT of them wide or tall.
_MAX_ASPECT = 10
_MIN_SIDE = 64  # pixels: a stroke that is a dot or a straight line still gets a picture.
_DPI = 100
_SHOWN_BAD_ROWS = 5
_ROW_GAP = 0.2  # the white between the rows of a batch, in heights of its tallest row


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


def batch_rows(batch, lengths=None):
    """The rows of a batch as a list of numpy arrays, row i cut to its first `lengths[i]` entries.

    `batch` is a list of arrays (or tensors) or one `[batch, T, ...]` array or
    tensor, such as a synthesis export's `strokes` or `alignment`.

    >>> [row.shape for row in batch_rows(np.zeros((2, 5, 3)), lengths=[5, 2])]
    [(5, 3), (2, 3)]
    """
    rows = [np.asarray(row) for row in (batch if isinstance(batch, (list, tuple)) else np.asarray(batch))]
    if not rows or any(row.ndim < 1 for row in rows):
        raise ValueError("a batch must be a non-empty list of arrays, or an array [batch, T, ...]")
    if lengths is None:
        return rows
    lengths = np.asarray(lengths).reshape(-1)
    if len(lengths) != len(rows) or not all(0 <= n <= len(row) for n, row in zip(lengths, rows)):
        raise ValueError(f"lengths {lengths.tolist()} do not fit rows of {[len(row) for row in rows]} entries")
    return [row[:int(n)] for row, n in zip(rows, lengths)]


def to_svg(strokes, path=None, stroke_width=2.0):
    """The strokes as an SVG document (`str`), one `<path>` a stroke; also written to `path` when given.

    The view box is the strokes' bounding box with a margin; `stroke_width`
    is in pixels of the picture's nominal size (300 pixels high, wide
    lines are shrunk to at most 3000 pixels wide).
    """
    return _svg(polylines(strokes), path, stroke_width)


def to_png(strokes, path, stroke_width=2.0):
    """Writes the strokes as a PNG to `path`; returns `path`.

    Drawn on a `Figure` with the Agg canvas, not pyplot, so the caller's
    matplotlib backend and open figures are left alone. The picture is
    300 pixels high and as wide as the strokes' aspect asks, up to 3000;
    `stroke_width` is in pixels.
    """
    return _png(polylines(strokes), path, stroke_width)


def save(strokes, path):
    """Writes the strokes to `path` as SVG or PNG, by its extension; returns `path`."""
    (_svg if picture_format(path) == ".svg" else _png)(polylines(strokes), path)
    return path


def to_svg_batch(batch, path=None, lengths=None, stroke_width=2.0):
    """`to_svg` for a batch (see `batch_rows`): one line a row, top to bottom, the tallest 300 pixels high.

    A row of no points is left blank; bad strokes raise `ValueError` naming the row.
    """
    lines, line_height = _stack(batch, lengths)
    return _svg(lines, path, stroke_width, line_height)


def save_batch(batch, path, lengths=None, stroke_width=2.0):
    """Writes the batch, drawn as `to_svg_batch`, to `path` as SVG or PNG by its extension; returns `path`."""
    lines, line_height = _stack(batch, lengths)
    (_svg if picture_format(path) == ".svg" else _png)(lines, path, stroke_width, line_height)
    return path


def save_alignment(alignment, text, path, strokes=None):
    """Draws the window φ(t, u) as Graves 2013 fig. 13 to `path` (PNG or SVG, by extension); returns `path`.

    `alignment` `[T, U]` weighs each point t over the characters of `text`,
    which label the vertical axis, first on top (columns past `len(text)`, a
    batch's padding, are dropped); `strokes`, `[T, 3]` offsets of the same
    points, are drawn above it across the same width. Lists of alignments,
    texts (and strokes) draw one such pair a row, top to bottom.
    """
    single = isinstance(text, str)
    texts, maps = ([text], [alignment]) if single else (list(text), batch_rows(alignment))
    inks = [None] * len(texts) if strokes is None else [strokes] if single else batch_rows(strokes)
    if not texts or not len(maps) == len(texts) == len(inks):
        raise ValueError(f"got {len(maps)} alignments, {len(texts)} texts and {len(inks)} strokes: give one of each")
    rows = [_window(i, *row) for i, row in enumerate(zip(maps, texts, inks))]
    extension = picture_format(path)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heights = []  # inches: a line as its aspect asks across the ~9.5 of width (and the labels'), a character 1/6
    for phi, text, lines in rows:
        if lines is not None:
            extent = np.ptp(np.concatenate(lines), axis=0) + 1e-9
            heights.append(float(np.clip(11 * extent[1] / extent[0], 0.6, 3.0)))
        heights.append(max(1.2, 0.17 * len(text) + 0.6))
    figure = Figure(figsize=(10, sum(heights)), dpi=_DPI, facecolor="white", layout="constrained")
    FigureCanvasAgg(figure)
    panels = iter(figure.add_gridspec(len(heights), 1, height_ratios=heights).subplots(squeeze=False)[:, 0])
    for phi, text, lines in rows:
        if lines is not None:
            ink = next(panels)
            ink.set_axis_off()
            ink.set_aspect("equal", adjustable="datalim")
            _draw(ink, lines, 1.5)
        axes = next(panels)
        axes.imshow(phi.T, cmap="Greys", vmin=0.0, vmax=phi.max() or 1.0, aspect="auto", interpolation="nearest")
        axes.set_yticks(range(len(text)), [c if c.strip() else "\u2423" for c in text], fontsize=8)  # ␣
        axes.set_xlabel("point t", fontsize=8)
        axes.tick_params(axis="x", labelsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format=extension[1:], dpi=_DPI, facecolor="white")
    _write(path, buffer.getvalue())
    return path


def _window(row, alignment, text, strokes):
    """(`[T, len(text)]` weights, text, the strokes' polylines or None), or a ValueError naming the row."""
    try:
        phi = np.asarray(alignment, dtype=np.float64)
        lines = None if strokes is None else polylines(strokes)
    except (TypeError, ValueError) as e:
        raise ValueError(f"row {row}: {e}") from e
    if phi.ndim != 2 or not len(phi) or not text or phi.shape[1] < len(text) or not np.isfinite(phi).all():
        raise ValueError(f"row {row}: the alignment must be finite, [T >= 1, U >= {len(text)}] for the characters of "
                         f"{text!r} (at least one), got shape {list(phi.shape)}")
    if strokes is not None and len(strokes) != len(phi):
        raise ValueError(f"row {row}: the alignment has {len(phi)} points, its strokes {len(strokes)}")
    return phi[:, :len(text)], text, lines


def _stack(batch, lengths):
    """The rows' polylines, each row from x = 0, stacked downwards from y = 0; and the tallest row's height."""
    pieces = []
    for i, row in enumerate(batch_rows(batch, lengths)):
        try:
            pieces.append(polylines(row) if len(row) else [])
        except ValueError as e:
            raise ValueError(f"row {i}: {e}") from e
    boxes = [(points.min(axis=0), points.max(axis=0)) for points in (np.concatenate(p) for p in pieces if p)]
    if not boxes:
        raise ValueError("every row of the batch is empty: nothing to draw")
    height = max(high[1] - low[1] for low, high in boxes) or 1.0
    lines, top, boxes = [], 0.0, iter(boxes)
    for piece in pieces:
        low, high = next(boxes) if piece else ((0.0, 0.0), (0.0, height))
        lines += [line - [low[0], high[1] - top] for line in piece]
        top -= high[1] - low[1] + _ROW_GAP * height
    return lines, height


def _svg(lines, path=None, stroke_width=2.0, line_height=None):
    corner, frame, pixels, scale = _layout(lines, line_height)
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


def _png(lines, path, stroke_width=2.0, line_height=None):
    # Imported here: SVG and the module itself need no matplotlib, and importing it takes a while.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    corner, frame, pixels, _ = _layout(lines, line_height)
    figure = Figure(figsize=tuple(pixels / _DPI), dpi=_DPI, facecolor="white")
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_axis_off()
    axes.set_xlim(corner[0], corner[0] + frame[0])
    axes.set_ylim(corner[1], corner[1] + frame[1])
    axes.set_aspect("equal")
    _draw(axes, lines, stroke_width)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    _write(path, buffer.getvalue())
    return path


def _draw(axes, lines, stroke_width):
    width = stroke_width * 72 / _DPI  # matplotlib's widths are in points
    for line in lines:
        if len(line) == 1:  # a line through one point draws nothing
            axes.plot(*line.T, "o", color="black", markersize=width, markeredgewidth=0)
        else:
            axes.plot(*line.T, color="black", linewidth=width, solid_capstyle="round", solid_joinstyle="round")


def picture_format(path):
    """`.svg` or `.png`, from the file name."""
    extension = os.path.splitext(os.fspath(path))[1].lower()
    if extension not in (".svg", ".png"):
        raise ValueError(f"cannot tell the picture format of {os.fspath(path)!r}: use a .svg or .png file name")
    return extension


def _layout(lines, line_height=None):
    """Where the picture lies: corner (x, y) and frame (width, height) in stroke units, its size in pixels,
    and pixels per unit. A line of `line_height` units (default: the strokes' height) gets _HEIGHT pixels."""
    points = np.concatenate(lines)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = high - low
    line = extent[1] if line_height is None else line_height
    # A margin from the short side keeps a long line from floating in white; a dot gets one unit.
    margin = 0.1 * max(min(extent[0], line), 0.05 * extent.max()) or 1.0
    extent = extent + 2 * margin
    scale = min(_HEIGHT / (line + 2 * margin), _MAX_ASPECT * _HEIGHT / extent.max())
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
