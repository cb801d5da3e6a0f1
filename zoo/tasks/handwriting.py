"""`HandwritingModel` and `HandwritingWriter`: the tasks of handwriting and synthesis exports (Graves 2013 §4, §5)."""

import dataclasses

import numpy as np

from zoo import strokes
from zoo.export.core import SERVING_SIGNATURE
from zoo.tasks.base import Task, decoded, rows


@dataclasses.dataclass(eq=False)
class Handwriting:
    """Pen strokes: `points` float32 `[n, 3]`, offsets (Δx, Δy, end of stroke) in the data's units (`zoo.strokes`).

    Attributes:
        points: point i lies at the sum of offsets 0..i; end of stroke 1 lifts the pen after it.
        text: what the strokes write, if known (a synthesis export's, or a style's transcription).
        alignment: float32 `[n, len(text)]`, a synthesis export's window φ(t, u): how much point t reads
            character u. None for sampled handwriting.
        finished: whether a synthesis export stopped writing by its rule (False: it ran out of steps);
            None for sampled handwriting.
        error: why a text was not written ("" when it was; then `points` is empty).
    """

    points: np.ndarray
    text: str | None = None
    alignment: np.ndarray | None = None
    finished: bool | None = None
    error: str = ""

    def __post_init__(self):
        self.points = np.asarray(self.points, np.float32)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"handwriting points must be [n, 3] (dx, dy, end_of_stroke), got shape "
                             f"{list(self.points.shape)}")

    def to_svg(self, path=None):
        """The strokes as an SVG document (str), also written to `path` when given (`zoo.strokes.to_svg`)."""
        return strokes.to_svg(self.points, path)

    def to_png(self, path):
        """Writes the strokes as a PNG to `path`; returns `path` (`zoo.strokes.to_png`)."""
        return strokes.to_png(self.points, path)

    def save(self, path):
        """Writes the strokes to `path` as SVG or PNG, by its extension; returns `path`."""
        return strokes.save(self.points, path)

    def save_alignment(self, path):
        """Draws `alignment` under the strokes (Graves 2013 fig. 13) to `path` (.png or .svg); returns `path`."""
        if self.alignment is None:
            raise ValueError("this handwriting has no alignment: only a synthesis export writes one")
        return strokes.save_alignment(self.alignment, self.text, path, strokes=self.points)


class HandwritingModel(Task):
    """Samples handwriting, no text given, with a handwriting export (Graves 2013 §4).

    Args:
        path: a handwriting export (`savedmodels/<name>` or a version directory).

    Example:

    >>> import tempfile
    >>> import zoo
    >>> from zoo import export
    >>> from zoo.models import GravesHandwritingModel
    >>> model = GravesHandwritingModel(units=4, num_layers=2, num_components=2)
    >>> _ = model(model.example_input())
    >>> path = export.export_graves_handwriting(model, (0.0, 0.0), (1.0, 1.0), tempfile.mkdtemp(), tflite=False)
    >>> handwriting = zoo.load(path).sample(steps=50, seed=3)  # untrained: scribbles
    >>> handwriting.points.shape
    (50, 3)
    >>> handwriting.to_svg().startswith("<?xml")
    True
    """

    family = "handwriting"

    def sample(self, steps=700, bias=1.0, seed=0):
        """Draws `steps` points (the `sample` signature).

        Args:
            steps: points to draw, 1 to 5,000.
            bias: ≥ 0, Graves's sampling bias b (§5.4): 0 samples the model as
                it is, larger values write more neatly.
            seed: the same seed, the same strokes.

        Returns:
            `Handwriting`.
        """
        out = self._call("sample", ("steps", "bias"), steps=[steps], bias=[bias], seed=[seed])
        return Handwriting(out["strokes"][0, :out["lengths"][0]])


class HandwritingWriter(Task):
    """Writes text by hand with a synthesis export (Graves 2013 §5), in its own hand or in a given one.

    Args:
        path: a synthesis export (`savedmodels/<name>` or a version directory).

    Example:

    >>> import tempfile
    >>> import zoo
    >>> from zoo import export, text
    >>> from zoo.models import GravesSynthesisModel
    >>> characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b"])
    >>> model = GravesSynthesisModel(characters.vocabulary_size, units=4, num_layers=2, num_components=2,
    ...                              window_components=2)
    >>> _ = model(model.example_input())
    >>> path = export.export_synthesis(model, characters, (0.0, 0.0), (1.0, 1.0), tempfile.mkdtemp(), tflite=False)
    >>> writer = zoo.load(path)  # untrained: scribbles
    >>> line, empty = writer.write(["ab ba", ""], bias=2.0)
    >>> line.text, line.alignment.shape == (len(line.points), 5), empty.error
    ('ab ba', True, 'empty text')
    >>> writer.write("ba", style=line).alignment.shape[1]  # primed with `line`: in its hand
    2
    """

    family = "synthesis"

    def write(self, texts, bias=1.0, seed=0, style=None):
        """Writes each text (the `serving_default` signature; with `style`, `write_in_style`).

        Args:
            texts: a str, or a list of str, each at most 120 characters.
            bias: 0 to 10 (`zoo.export.MAX_BIAS`), Graves's sampling bias b (§5.4): larger values write more
                neatly.
            seed: the sampling seed of every text.
            style: `Handwriting` whose `text` is what its points write: the
                network reads them first and writes each text in that hand (§5.5).

        Returns:
            A `Handwriting` per text (one text in: one result out), with its
            alignment over the text's characters; an empty text comes back
            without points, with its `error`.
        """
        texts, single = rows(texts)
        n = len(texts)
        inputs = {"text": texts, "bias": [bias] * n, "seed": [seed] * n}
        if style is None:
            out, skip = self._call(SERVING_SIGNATURE, ("bias",), **inputs), 0
        else:
            if not style.text:
                raise ValueError("a style needs the text its points write (Handwriting.text)")
            out = self._call("write_in_style", ("bias", "style_strokes", "style_lengths"), **inputs,
                             style_strokes=np.repeat(style.points[None], n, axis=0),
                             style_lengths=[len(style.points)] * n, style_text=[style.text] * n)
            skip = len(style.text) + 1  # the alignment reads the style's text and a space first
        results = [Handwriting(points[:length], text, alignment[:length, skip: skip + len(text)], bool(finished),
                               decoded(error))
                   for text, points, length, alignment, finished, error in zip(
                       texts, out["strokes"], out["lengths"], out["alignment"], out["finished"], out["error"])]
        return results[0] if single else results
