"""Draw a translation's alignment: which source pieces each target piece attended to (GNMT's `alignment`).

    python -m zoo.alignment --export savedmodels/gnmt_multi30k/1 --source "A dog runs on the beach." \\
        --out alignment.png

Without --target the export's `serving_default` translates --source first.
The picture is a heatmap, source pieces across, target pieces down
(`[END]` last), as Bahdanau et al. 2015 draw theirs; `.png` or `.svg` by
the --out name. `draw_alignment` draws any `alignment` output.
"""

import argparse
import sys

import numpy as np


def draw_alignment(attention, source_pieces, target_pieces, path):
    """Writes the heatmap of `attention` `[T, S]` (rows: target pieces) to `path` (.png or .svg).

    Padding ("" pieces) is left out. Uses matplotlib's Agg canvas; pyplot's
    backend and figures are left alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    source = [p.decode() if isinstance(p, bytes) else p for p in source_pieces]
    target = [p.decode() if isinstance(p, bytes) else p for p in target_pieces]
    source, target = [p for p in source if p], [p for p in target if p]
    attention = np.asarray(attention)[:len(target), :len(source)]
    figure = Figure(figsize=(1.0 + 0.45 * len(source), 1.0 + 0.35 * len(target)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.imshow(attention, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(source)), source, rotation=90)
    axes.set_yticks(range(len(target)), target)
    axes.xaxis.tick_top()
    figure.tight_layout()
    figure.savefig(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--export", required=True, help="A GNMT translation SavedModel (with `alignment`).")
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", help="The translation to align; default: the export's own translation.")
    parser.add_argument("--out", default="alignment.png", help="A .png or .svg file.")
    args = parser.parse_args(argv)
    if not args.out.lower().endswith((".png", ".svg")):
        parser.error(f"--out {args.out}: expected a .png or .svg file name")
    # Imported here: TensorFlow takes seconds to import, and --help needs none of it.
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 (registers the SentencePiece ops)

    try:
        signatures = tf.saved_model.load(args.export).signatures
    except Exception as e:  # a missing folder, or no SavedModel in it: the loader raises several kinds
        parser.error(f"--export {args.export}: cannot load a SavedModel: {str(e).strip().splitlines()[0]}")
    if "alignment" not in signatures:
        parser.error(f"--export {args.export}: no alignment signature (only models with attention have one)")
    source = tf.constant([args.source])
    target = args.target
    if target is None:
        target = signatures["serving_default"](text=source)["translation"].numpy()[0].decode()
    out = signatures["alignment"](source=source, target=tf.constant([target]))
    if not out["valid"].numpy()[0]:
        parser.error(f"cannot align: {out['error'].numpy()[0].decode()}")
    draw_alignment(out["attention"].numpy()[0], out["source_pieces"].numpy()[0], out["target_pieces"].numpy()[0],
                   args.out)
    print(f"{args.source}\n→ {target}\nwritten: {args.out}")


if __name__ == "__main__":
    sys.exit(main())
