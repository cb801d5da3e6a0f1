"""Online handwriting for Graves 2013 §4: IAM-OnDB line strokes → pen offsets.

IAM-OnDB publishes `lineStrokes-all.tar.gz`: one XML file a text line,
`lineStrokes/<a01>/<a01-000>/<a01-000u-01>.xml`, each `<Stroke>` a pen-down
segment of `<Point x= y= time=>` in integer tracker units with y growing
downwards. `read_iam_ondb` reads the archive (or its extracted tree) and turns
each line into Graves's input: offsets (Δx, Δy) from the previous point, y
flipped to grow upwards, and an end-of-stroke bit on each stroke's last point.
The first point of a line has offset (0, 0). With `fill_missing_readings`
the readings the tracker missed within a stroke are put back first, as
Graves §4 did ("interpolating to fill in for missing readings").

The IAM's own train/test lists are a separate download; `split_by_form`
splits deterministically by form (every line of a form, one writer's page,
lands in the same split), so no writer's page is in two splits. The lines with
their text, for §5 synthesis, and the IAM task split lists are
`zoo.data.handwriting_text`'s.

`demo.write_demo_strokes` writes a small generated set in the same XML
layout, so the offline demo goes through the same reader.
"""

import dataclasses
import math
import os
import tarfile
import xml.etree.ElementTree as ElementTree

import numpy as np
import tensorflow as tf

from zoo.data.demo import IAM_ONDB_TREE
from zoo.data.files import DataError

ARCHIVE = "lineStrokes-all.tar.gz"
# (Δx, Δy, end of stroke) of the point before a line's first one: the pen is up.
START = (0.0, 0.0, 1.0)
# IAM-OnDB's tracker reads the pen about every 15 ms: its timestamps, in steps of 10 ms, are 0.01 and 0.02 s apart
# in equal numbers within a stroke; a gap of 0.03 s or more is a reading or more lost.
READING_INTERVAL = 0.015
# A longer pause within a stroke is left as it is: no tracker loses a second of readings, a clock can jump.
MAX_FILLED_GAP = 1.0


@dataclasses.dataclass
class Handwriting:
    """Text lines of pen offsets: `strokes[i]` is a float32 `[points, 3]` array of line `names[i]`."""

    names: list
    strokes: list

    def __len__(self):
        return len(self.names)

    @property
    def points(self):
        return sum(len(s) for s in self.strokes)


def read_iam_ondb(data_dir, max_lines=0, whole_forms=False, fill_missing_readings=False):
    """Reads every line of IAM-OnDB's `lineStrokes` from `data_dir`, sorted by name.

    Args:
        data_dir: holds `lineStrokes-all.tar.gz` or the extracted `lineStrokes/` folder.
        max_lines: > 0 keeps the first that many lines (in the archive's or the
            sorted tree's order), for quick runs.
        whole_forms: with `max_lines`, goes on reading the lines of the form
            the cut falls in, so that no form is cut in two (the transcribed
            reader matches a form's lines to its text by their count).
        fill_missing_readings: put back the readings missing within each
            stroke (`filled_readings`), from the points' `time`s.

    Returns:
        A `Handwriting`.
    """
    archive, tree = os.path.join(data_dir, ARCHIVE), os.path.join(data_dir, IAM_ONDB_TREE)
    if os.path.isdir(tree):
        files = sorted(os.path.join(root, name) for root, _, names in os.walk(tree)
                       for name in names if name.endswith(".xml"))
        members = ((path, lambda path=path: open(path, "rb")) for path in files)
        return _parse_lines(members, tree, max_lines, whole_forms, fill_missing_readings)
    if not os.path.exists(archive):
        raise DataError(f"no {ARCHIVE} or {IAM_ONDB_TREE}/ in {data_dir} (IAM-OnDB is handed out by the IAM after "
                        "registration: fki.tic.heia-fr.ch/databases/iam-on-line-handwriting-database)")
    try:
        with tarfile.open(archive) as tar:
            # The archive is read once, in order; lines come out sorted by name after parsing.
            members = ((f"{archive}:{m.name}", lambda m=m: tar.extractfile(m)) for m in tar
                       if m.isfile() and m.name.endswith(".xml"))
            handwriting = _parse_lines(members, tree, max_lines, whole_forms, fill_missing_readings)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise DataError(f"{archive}: not a readable tar.gz: {e}") from e
    return handwriting


def _parse_lines(members, tree, max_lines=0, whole_forms=False, fill_missing_readings=False):
    lines, last = {}, None
    for where, open_member in members:
        name = os.path.basename(where)[: -len(".xml")]
        # A form's files sit together in the tree and in the archive, so its last one comes before any other form's.
        if max_lines and len(lines) >= max_lines and not (whole_forms and _form(name) == _form(last)):
            break
        with open_member() as f:
            lines[name] = _line_offsets(f, where, fill_missing_readings)
        last = name
    if not lines:
        raise DataError(f"no line stroke XML files under {tree}")
    names = sorted(lines)
    return Handwriting(names, [lines[n] for n in names])


def _line_offsets(f, where, fill_missing_readings=False):
    """One line's XML → float32 `[points, 3]` offsets, y up, end-of-stroke bits."""
    try:
        root = ElementTree.parse(f).getroot()
        if fill_missing_readings:
            strokes = [filled_readings([(int(p.get("x")), int(p.get("y")), float(p.get("time")))
                                        for p in stroke.iter("Point")]) for stroke in root.iter("Stroke")]
        else:
            strokes = [[(int(p.get("x")), int(p.get("y"))) for p in stroke.iter("Point")]
                       for stroke in root.iter("Stroke")]
    except ElementTree.ParseError as e:
        raise DataError(f"{where}: line {e.position[0]}: malformed XML: {e}") from e
    except (TypeError, ValueError) as e:  # a Point without integer x= / y= (or, to fill readings, a time=)
        raise DataError(f"{where}: a <Point> without integer x and y" +
                        (" and a time" if fill_missing_readings else "") + f": {e}") from e
    strokes = [s for s in strokes if s]
    if not strokes:
        raise DataError(f"{where}: no <Point> in any <Stroke>")
    points = np.array([p for s in strokes for p in s], np.float32)
    end_of_stroke = np.zeros(len(points), np.float32)
    end_of_stroke[np.cumsum([len(s) for s in strokes]) - 1] = 1.0
    offsets = np.diff(points, axis=0, prepend=points[:1])
    offsets[:, 1] *= -1.0  # the tracker's y grows downwards
    return np.concatenate([offsets, end_of_stroke[:, None]], axis=1)


def filled_readings(readings):
    """A stroke's `(x, y, time)` readings → `(x, y)` points with the readings the tracker missed put back.

    A gap of Δt seconds (0 < Δt < `MAX_FILLED_GAP`) between two readings held
    round(Δt / `READING_INTERVAL`) - 1 lost ones: they go back evenly spaced
    on the straight line between the two. Graves §4 fills IAM-OnDB's missing
    readings so; their points count in a line's NLL.

    Example: readings 30 ms apart, (0, 0) and (4, 2), become (0, 0), (2, 1), (4, 2).
    """
    points = [readings[0][:2]] if readings else []
    for (x0, y0, t0), (x1, y1, t1) in zip(readings, readings[1:]):
        lost = max(round((t1 - t0) / READING_INTERVAL) - 1, 0) if 0 < t1 - t0 < MAX_FILLED_GAP else 0
        points += [(x0 + (x1 - x0) * k / (lost + 1), y0 + (y1 - y0) * k / (lost + 1)) for k in range(1, lost + 1)]
        points.append((x1, y1))
    return points


def split_by_form(handwriting, holdout_every=20):
    """(train, valid, test): of the forms sorted by name, every `holdout_every`-th goes to test,
    the one after it to valid (5 % each by default), the rest to train."""
    forms = sorted({_form(n) for n in handwriting.names})
    split_of = {form: ("test" if i % holdout_every == 0 else "valid" if i % holdout_every == 1 else "train")
                for i, form in enumerate(forms)}
    return tuple(select_lines(handwriting, [i for i, name in enumerate(handwriting.names)
                                            if split_of[_form(name)] == part])
                 for part in ("train", "valid", "test"))


def select_lines(handwriting, indices):
    """The lines at `indices`, in that order, as the same class (a subclass's per-line fields, e.g. texts, too)."""
    return dataclasses.replace(handwriting, **{field.name: [getattr(handwriting, field.name)[i] for i in indices]
                                               for field in dataclasses.fields(handwriting)})


def _form(line_name):
    """`a01-000u-01` → `a01-000u`: the form (one page by one writer) a line comes from."""
    return line_name.rsplit("-", 1)[0]


def offset_statistics(handwriting):
    """Mean and standard deviation of (Δx, Δy) over every point: two float lists."""
    offsets = np.concatenate(handwriting.strokes)[:, :2].astype(np.float64)
    std = offsets.std(axis=0)
    if not np.all(std > 0):
        raise DataError("pen offsets have zero variance: no movement in the training lines")
    return offsets.mean(axis=0).tolist(), std.tolist()


def denormalise(offsets, mean, std):
    """Normalised offsets `[..., 3]` back in the data's units: (Δx, Δy) · std + mean, the pen bit as it is."""
    return offsets * np.array([*std, 1.0], np.float32) + np.array([*mean, 0.0], np.float32)


def normalise(handwriting, mean, std):
    """Offsets scaled to zero mean, unit variance per axis (the end-of-stroke bit is kept).

    Returns the same class as `handwriting`, with its other fields (e.g. texts).
    """
    scale = np.array([*std, 1.0], np.float32)
    shift = np.array([*mean, 0.0], np.float32)
    return dataclasses.replace(handwriting, names=list(handwriting.names),
                               strokes=[(s - shift) / scale for s in handwriting.strokes])


def next_point_windows(handwriting, sequence_length):
    """(inputs, targets, weights) arrays `[windows, sequence_length(, 3)]` for next-point prediction.

    Each line, preceded by the pen-up `START`, is cut into windows: the input
    at step t is point t - 1, the target point t. A line's last window is
    zero-padded with weight 0 on the padding.
    """
    inputs, targets, weights = [], [], []
    for strokes in handwriting.strokes:
        sequence = np.concatenate([np.array([START], np.float32), strokes])
        count = math.ceil(len(strokes) / sequence_length)
        length = count * sequence_length
        padded = np.zeros((length + 1, 3), np.float32)
        padded[: len(sequence)] = sequence
        weight = np.zeros(length, np.float32)
        weight[: len(strokes)] = 1.0
        inputs.append(padded[:-1].reshape(count, sequence_length, 3))
        targets.append(padded[1:].reshape(count, sequence_length, 3))
        weights.append(weight.reshape(count, sequence_length))
    if not inputs:
        raise DataError("no handwriting lines to cut into windows")
    return np.concatenate(inputs), np.concatenate(targets), np.concatenate(weights)


def stroke_dataset(handwriting, sequence_length, batch_size, shuffle=False, seed=None):
    """Batched `(inputs, targets, sample_weights)` windows of normalised lines (see `next_point_windows`).

    Windows start from zero LSTM states, so they can be shuffled and split
    across replicas (Graves carried states along a line).
    """
    inputs, targets, weights = next_point_windows(handwriting, sequence_length)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets, weights))
    if shuffle:
        dataset = dataset.shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def whole_line_batches(handwriting, batch_size):
    """Yields `(inputs, targets, weights)` arrays holding whole lines, one a row, for per-line NLL.

    Lines are sorted by length so each batch pads only to its longest line.
    """
    lines = sorted(handwriting.strokes, key=len)
    for start in range(0, len(lines), batch_size):
        batch = lines[start: start + batch_size]
        yield next_point_windows(Handwriting([None] * len(batch), batch), len(batch[-1]))
