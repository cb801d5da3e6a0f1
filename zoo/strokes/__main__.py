"""The command line of `zoo.strokes` (see its docstring): draw strokes from a file or from an export."""

import argparse
import json
import os
import sys

import numpy as np

from zoo.strokes import picture_format, batch_rows, save, save_alignment, save_batch


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


def _signature(export_dir):
    """("synthesis", its serving_default) or ("handwriting", its sample signature), told by their inputs."""
    # Imported here: TensorFlow takes seconds to import and only --export needs it.
    import tensorflow as tf

    try:
        signatures = tf.saved_model.load(export_dir).signatures
    except Exception as e:  # a missing folder, or no SavedModel in it: the loader raises several kinds
        raise ValueError(f"--export {export_dir}: cannot load a SavedModel: {_first_line(e)}") from e
    serving = signatures.get("serving_default")
    if serving is not None and set(serving.structured_input_signature[1]) == {"text", "bias", "seed"}:
        return "synthesis", serving
    if "sample" in signatures:
        return "handwriting", signatures["sample"]
    raise ValueError(f"--export {export_dir} is neither a synthesis export (serving_default taking text, bias, seed) "
                     f"nor a handwriting export (sample); its signatures: {sorted(signatures)}")


def _call(signature, **inputs):
    """The signature's outputs as numpy arrays; a failed check of the export raises ValueError with its message."""
    import tensorflow as tf

    specs = signature.structured_input_signature[1]
    try:
        outputs = signature(**{name: tf.constant(value, specs[name].dtype) for name, value in inputs.items()})
    except tf.errors.OpError as e:
        # The message (steps, bias or text out of range) hides below "Graph execution error:" and node names.
        lines = [line.strip() for line in e.message.splitlines() if line.strip()] or [type(e).__name__]
        raise ValueError(next((line for line in lines if line.startswith("assertion failed:")), lines[0])) from e
    return {name: value.numpy() for name, value in outputs.items()}


def _first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def main(argv=None):
    """The command line (see the module docstring); errors end it with one line and status 1 (2: usage)."""
    parser = argparse.ArgumentParser(prog="zoo.strokes", description="Draws handwriting strokes as SVG or PNG.")
    parser.add_argument("output", help="the picture to write: a .svg or .png file")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--strokes", metavar="FILE", help="[n, 3] offsets (dx, dy, end_of_stroke) in .npy or .json")
    source.add_argument("--export", metavar="SAVEDMODEL_DIR", help="a handwriting or synthesis SavedModel")
    parser.add_argument("--text", action="append", help="a line to write, one row each (synthesis --export)")
    parser.add_argument("--alignment", metavar="FILE", help="also draw each row's window here (synthesis --export)")
    parser.add_argument("--steps", type=int, help="points to sample (handwriting --export; default 700)")
    parser.add_argument("--bias", type=float, default=1.0, help="sampling bias, 0 = unbiased (--export)")
    parser.add_argument("--seed", type=int, default=0, help="sampling seed, of each row (--export)")
    args = parser.parse_args(argv)
    if args.text is not None and not all(args.text):
        parser.error("--text must not be empty")
    if (args.strokes or args.text is None) and (args.text is not None or args.alignment):
        parser.error("--text needs a synthesis --export, and --alignment needs --text")
    try:
        for picture in (args.output, args.alignment or "a.png"):
            picture_format(picture)  # a bad extension fails before a slow sample
        if args.strokes:
            return print(save(_read_strokes(args.strokes), args.output))
        kind, signature = _signature(args.export)
        if kind == "handwriting":
            if args.text is not None:
                raise ValueError(f"--export {args.export} is a handwriting export (sample): it takes no --text")
            steps = 700 if args.steps is None else args.steps
            return print(save(_call(signature, steps=[steps], bias=[args.bias], seed=[args.seed])["strokes"][0],
                              args.output))
        if args.text is None or args.steps is not None:
            raise ValueError(f"--export {args.export} is a synthesis export: give --text, and no --steps")
        rows = len(args.text)
        out = _call(signature, text=args.text, bias=[args.bias] * rows, seed=[args.seed] * rows)
        for row in np.flatnonzero(~out["finished"]):
            print(f"{parser.prog}: note: row {row} ({args.text[row]!r}) ran out of steps", file=sys.stderr)
        strokes = batch_rows(out["strokes"], out["lengths"])
        print(save_batch(strokes, args.output))
        if args.alignment:
            print(save_alignment(batch_rows(out["alignment"], out["lengths"]), args.text, args.alignment, strokes))
    except (OSError, ValueError) as e:
        parser.exit(1, f"{parser.prog}: error: {_first_line(e)}\n")


if __name__ == "__main__":
    main()
