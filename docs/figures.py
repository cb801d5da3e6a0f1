"""Draws the handwriting pictures of docs/graves.md from a synthesis export: the shipped one, by default.

    python docs/figures.py
    python docs/figures.py --export savedmodels/graves_synthesis_iam --out_dir docs --name graves_synthesis_iam

Writes, into --out_dir:
- NAME_bias.png: --text at bias 0, 0.75 and 2 (§5.4), seed --seed, a line each;
- NAME_primed.png: --text primed (§5.5, `write_in_style`) by each style of the export's
  `assets.extra/styles.json` (lines the model wrote itself: no stroke of a data set is drawn), at bias 0.75;
- NAME_alignment.png: the window φ of the bias-2 line over its characters, as Graves 2013 fig. 13.
A line the model does not finish stops the script: the pictures show finished lines only.
"""

import json
import os

from absl import app, flags

import zoo
from zoo import export, strokes, web
from zoo.tasks import ExportError
from zoo.tasks.handwriting import Handwriting

FLAGS = flags.FLAGS

BIASES = (0.0, 0.75, 2.0)
PRIMED_BIAS = 0.75


def styles(writer):
    """The export's styles as `Handwriting` (points and the text they write)."""
    path = os.path.join(writer.path, export.EXTRA_DIR, web.STYLES_FILE)
    if not os.path.exists(path):
        raise app.UsageError(f"{path} is missing: write the styles first (python -m zoo styles)")
    with open(path, encoding="utf-8") as f:
        return [Handwriting(style["strokes"], style["text"]) for style in json.load(f)]


def finished(lines, what):
    refused = {line.error for line in lines if line.error}
    if refused:
        raise SystemExit(f"{what}: the export refused the text: {'; '.join(sorted(refused))}")
    unfinished = [line.text for line in lines if not line.finished]
    if unfinished:
        raise SystemExit(f"{what}: the model ran out of steps on {unfinished}; try another --seed")
    return lines


def written(writer, text, seed):
    """`text` at each of BIASES, and primed by each of the export's styles at PRIMED_BIAS: two lists of lines."""
    biased = finished([writer.write(text, bias, seed) for bias in BIASES], "biased lines")
    primed = finished([writer.write(text, PRIMED_BIAS, seed, style=style) for style in styles(writer)],
                      "primed lines")
    return biased, primed


def draw(biased, primed, out_dir, name):
    """Writes the three pictures; returns their paths."""
    path = lambda kind: os.path.join(out_dir, f"{name}_{kind}.png")  # noqa: E731
    return [strokes.save_batch([line.points for line in biased], path("bias")),
            strokes.save_batch([line.points for line in primed], path("primed")),
            biased[BIASES.index(2.0)].save_alignment(path("alignment"))]


def readable(path):
    """The task of the export at `path`; an unreadable one stops the script with `zoo.load`'s one line."""
    try:
        return zoo.load(path)
    except ExportError as e:
        raise app.UsageError(str(e)) from None


def define_flags():
    """The script's flags; defined only when it runs, so importing it (as the tests do) leaves absl's global
    flags to the recipes."""
    flags.DEFINE_string("export", "savedmodels/graves_synthesis_iam",
                        "A synthesis export (its newest version is read).")
    flags.DEFINE_string("out_dir", os.path.dirname(os.path.abspath(__file__)), "Where the pictures go.")
    flags.DEFINE_string("name", "graves_synthesis_iam", "The pictures' file names start with it.")
    flags.DEFINE_string("text", "the zoo writes any text by hand", "What the pictures write.")
    flags.DEFINE_integer("seed", 3, "The sampling seed of every line.")


def main(argv):
    del argv
    writer = readable(FLAGS.export)
    if writer.family != "synthesis":
        raise app.UsageError(f"{FLAGS.export} is a {writer.family} export; the pictures need a synthesis export")
    for path in draw(*written(writer, FLAGS.text, FLAGS.seed), FLAGS.out_dir, FLAGS.name):
        print(f"written: {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
