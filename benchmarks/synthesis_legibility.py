"""How legible is synthesised handwriting? An OCR engine no one here wrote reads it (Graves 2013 §5).

    python benchmarks/synthesis_legibility.py --export savedmodels/graves_synthesis_iam/1
    python benchmarks/synthesis_legibility.py --export /tmp/synth/export/1 --lines 5 --out_dir /tmp/legibility
    python benchmarks/synthesis_legibility.py --export savedmodels/graves_synthesis_iam/1 --first 20   # lines 20-39

Run by hand, not a test. Takes --lines lines (sorted by name, from index --first) of
IAM-OnDB's validation split (the task list `splits/testset_v.txt`, read,
cleaned and split by `zoo.data.handwriting_text` as the synthesis recipe
does), asks the export's `serving_default` to write each line's text at
--bias (row i gets seed --seed + i), draws the synthesised strokes and the
line's REAL strokes the same way (`zoo.strokes.to_png`, then scaled to
--height pixels with a --pen pixels wide pen), and reads every picture with
Tesseract (`tesseract img.png stdout --psm 7`: a single text line; Debian:
`apt-get install -y tesseract-ocr`). Prints a Markdown table of the
character error rate, CER = Levenshtein distance / reference characters,
summed over all lines (whitespace runs collapsed to one space, case kept),
for the synthesised and the real handwriting: the real lines' CER is the
ceiling, what this reader can do on human writing drawn this way. Writes
the PNGs and `results.json` (per line: text, what Tesseract read, errors)
to --out_dir (default: a new temporary folder; printed).

The pictures of real lines and the JSON hold IAM-OnDB data (research use
only): --out_dir must lie outside the repository.

--height 64 and --pen 2 were chosen on 30 random lines of the TRAINING
split, not on the validation lines reported: CER of their real strokes
54 % at 300 px as `to_png` draws them, and with a 2-pixel pen 47 % at
100 px, 42 % at 80, 41 % at 64 and at 48 (64 px: 1.5 px pen 40 %, 2.5 px
42 %, 3 px 44 %). On the first 20 validation lines the ceiling is 36.8 % at
64 px against 50.7 % at 300 px.

Rows are written --batch_size at a time; a row's strokes depend on the
batch only through float rounding (~1e-4 data units), which can still
change a character Tesseract reads on an ambiguous scribble.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

flags.DEFINE_string("export", None, "A handwriting synthesis SavedModel (its `serving_default`: text, bias, seed).")
flags.DEFINE_string("data_dir", os.path.join(ROOT, "..", "shared", "datasets", "iam_ondb"),
                    "IAM-OnDB: lineStrokes-all.tar.gz (or lineStrokes/), ascii-all.tar.gz (or ascii/), splits/.")
flags.DEFINE_integer("lines", 20, "This many validation lines, by name, from --first.", lower_bound=1)
flags.DEFINE_integer("first", 0, "Index (by name) of the first validation line taken.", lower_bound=0)
flags.DEFINE_float("bias", 2.0, "Sampling bias b (Graves 2013 §5.4).", lower_bound=0.0)
flags.DEFINE_integer("seed", 0, "Row i is written with seed + i.")
flags.DEFINE_string("out_dir", None, "Where the PNGs and results.json go (default: a new temporary folder).")
flags.DEFINE_integer("height", 64, "Pixels of each picture's height given to Tesseract.", lower_bound=16)
flags.DEFINE_float("pen", 2.0, "Pen width in pixels of the --height picture.", lower_bound=0.1)
flags.DEFINE_integer("batch_size", 10, "Texts written per call of the export.", lower_bound=1)
flags.mark_flag_as_required("export")
FLAGS = flags.FLAGS


def levenshtein(a, b):
    """Edit distance (insertions, deletions, substitutions, each 1) between two sequences."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def normalise(text):
    """Whitespace runs (newlines included) become one space; no space at either end."""
    return " ".join(text.split())


def validation_lines(data_dir, first, count):
    """`count` validation lines from index `first` (by name), read, cleaned and split as the synthesis recipe does."""
    from zoo.data import handwriting_text

    splits_dir = os.path.join(data_dir, "splits")
    if not os.path.isfile(os.path.join(splits_dir, "testset_v.txt")):
        raise app.UsageError(f"{splits_dir}/testset_v.txt is missing: the validation split is the IAM task list")
    _, valid, report = handwriting_text.read_synthesis_lines(data_dir, splits_dir)
    print(f"IAM-OnDB: {report['kept']} lines kept ({len(report['skipped_forms'])} forms skipped, dropped "
          f"{report['dropped']}); {len(valid)} validation lines, lines {first} to {first + count - 1} taken", flush=True)
    return [(valid.names[i], valid.texts[i], valid.strokes[i]) for i in range(first, min(first + count, len(valid)))]


def synthesise(export, texts, bias, seed, batch_size):
    """(strokes [n, 3], finished) per text, from the export's `serving_default`."""
    import numpy as np
    import tensorflow as tf

    write = tf.saved_model.load(export).signatures["serving_default"]
    written = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start:start + batch_size]
        out = write(text=tf.constant(batch), bias=tf.fill([len(batch)], tf.constant(bias, tf.float32)),
                    seed=tf.range(seed + start, seed + start + len(batch), dtype=tf.int64))
        strokes, lengths, finished = (out[k].numpy() for k in ("strokes", "lengths", "finished"))
        written += [(np.asarray(strokes[i, :lengths[i]]), bool(finished[i])) for i in range(len(batch))]
        print(f"  written {start + len(batch)}/{len(texts)}", flush=True)
    return written


def render(strokes, path, height, pen):
    """Draws `strokes` with `zoo.strokes.to_png`, then scales the picture to `height` pixels (grey, Lanczos).

    `to_png`'s `stroke_width` is in pixels of its own picture (300 high, or
    less for a line wider than its aspect cap): it is set from that picture's
    height so that the pen is `pen` pixels wide after scaling, on every line.
    """
    from PIL import Image

    from zoo import strokes as drawing

    nominal = 300
    drawing.to_png(strokes, path, stroke_width=pen * nominal / height)
    with Image.open(path) as picture:
        drawn = picture.height
    if drawn != nominal:
        drawing.to_png(strokes, path, stroke_width=pen * drawn / height)
    with Image.open(path) as picture:
        grey = picture.convert("L")
    width = max(1, round(grey.width * height / grey.height))
    grey.resize((width, height), Image.LANCZOS).save(path)
    return path


def read_text(path):
    """What Tesseract reads in the picture, as one text line."""
    # One thread: tesseract's OpenMP threads only contend on a busy machine for pictures this small.
    env = {**os.environ, "OMP_THREAD_LIMIT": os.environ.get("OMP_THREAD_LIMIT", "1")}
    done = subprocess.run(["tesseract", path, "stdout", "--psm", "7"], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"tesseract {path} failed ({done.returncode}): {done.stderr.strip()}")
    return normalise(done.stdout)


def scored(reference, strokes, path):
    """OCR of one picture against its reference text: a dict for results.json."""
    reference = normalise(reference)
    row = {"png": os.path.basename(path), "points": int(len(strokes))}
    try:
        render(strokes, path, FLAGS.height, FLAGS.pen)
        row["ocr"] = read_text(path)
    except ValueError as e:  # no points, or NaN: nothing to read, every character is an error
        row.update(png=None, ocr="", error=str(e))
    row["errors"] = levenshtein(row["ocr"], reference)
    row["cer"] = row["errors"] / max(len(reference), 1)
    return row


def cer(rows, kind):
    return sum(r[kind]["errors"] for r in rows) / sum(len(normalise(r["text"])) for r in rows)


def outside_repository(path):
    path, root = os.path.realpath(path), os.path.realpath(ROOT)
    return os.path.commonpath([path, root]) != root


def main(argv):
    del argv
    if shutil.which("tesseract") is None:
        raise app.UsageError("tesseract is not installed (Debian: apt-get install -y tesseract-ocr)")
    if not os.path.isdir(FLAGS.export):
        raise app.UsageError(f"--export {FLAGS.export}: not a folder")
    out_dir = FLAGS.out_dir or tempfile.mkdtemp(prefix="synthesis_legibility_")
    if not outside_repository(out_dir):
        raise app.UsageError(f"--out_dir {out_dir}: the pictures and texts are IAM-OnDB data (research use only), "
                             "keep them out of the repository")
    os.makedirs(out_dir, exist_ok=True)
    print(f"pictures and results.json: {out_dir}", flush=True)
    begin = time.time()

    lines = validation_lines(FLAGS.data_dir, FLAGS.first, FLAGS.lines)
    texts = [text for _, text, _ in lines]
    print(f"writing {len(texts)} texts at bias {FLAGS.bias} with {FLAGS.export} ...", flush=True)
    written = synthesise(FLAGS.export, texts, FLAGS.bias, FLAGS.seed, FLAGS.batch_size)

    rows = []
    for i, ((name, text, real), (synthesised, finished)) in enumerate(zip(lines, written)):
        row = {"name": name, "text": normalise(text), "seed": FLAGS.seed + i, "finished": finished,
               "synthesised": scored(text, synthesised, os.path.join(out_dir, f"{name}-synthesised.png")),
               "real": scored(text, real, os.path.join(out_dir, f"{name}-real.png"))}
        rows.append(row)
        print(f"  {name}: {row['text']!r}\n    synthesised ({row['synthesised']['cer']:.0%}): "
              f"{row['synthesised']['ocr']!r}\n    real        ({row['real']['cer']:.0%}): {row['real']['ocr']!r}",
              flush=True)

    summary = {"lines": len(rows), "first": FLAGS.first, "cer_synthesised": cer(rows, "synthesised"), "cer_real": cer(rows, "real"),
               "bias": FLAGS.bias, "seed": FLAGS.seed, "export": os.path.abspath(FLAGS.export),
               "height": FLAGS.height, "pen": FLAGS.pen, "split": "IAM-OnDB testset_v (validation)",
               "reader": subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                                        check=False).stdout.splitlines()[0] + ", --psm 7",
               "seconds": round(time.time() - begin, 1)}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump({**summary, "per_line": rows}, f, indent=2, ensure_ascii=False)

    columns = ("lines", "CER synthesised", "CER real (ceiling)", "bias", "export")
    cells = (str(summary["lines"]), f"{100 * summary['cer_synthesised']:.1f} %",
             f"{100 * summary['cer_real']:.1f} %", f"{summary['bias']:g}", summary["export"])
    widths = [max(len(c), len(v)) for c, v in zip(columns, cells)]
    print(f"\n### Legibility: Tesseract's character error rate on validation lines ({summary['reader']})\n")
    print("| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("| " + " | ".join(v.ljust(w) for v, w in zip(cells, widths)) + " |")
    print(f"\nper line: {os.path.join(out_dir, 'results.json')}")


if __name__ == "__main__":
    app.run(main)
