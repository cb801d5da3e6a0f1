"""Runs the zoo's benchmarks and prints a table for each; writes them all to JSON.

    python benchmarks/run.py                  # every section and row: benchmarks/README.md's tables
    python benchmarks/run.py --quick          # every row, fewer steps
    python benchmarks/run.py --sections=training --models=gnmt,han --precisions=float32
    python benchmarks/run.py --sections=synthesis --models=graves_synthesis   # handwriting synthesis: writing lines
    python benchmarks/run.py --trained=gnmt:recipes/configs/gnmt_multi30k.flags   # a finished run, not the demo

`benchmarks/tables.py` makes benchmarks/README.md's tables from the JSON.

Needs the `[bench]` extra (`pip install -e .[bench]`: PyTorch 2.13, CPU
build). Real data sets are read from --datasets_dir (the project's
`../shared/datasets`); a missing one is replaced by the zoo's generated demo
data, and the table says which was used.
"""

import json
import os
import platform
import sys
import tempfile
import time

from absl import app, flags

import tables
from machine import commit, cpu_name
from zoo import registry
from zoo.training import cpu_has_bfloat16

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SECTIONS = ("training", "decoding", "serving", "synthesis")
MODELS = tuple(entry.name for entry in registry.MODELS)
SYNTHESIS_MODELS = tuple(entry.name for entry in registry.MODELS if entry.family == "synthesis")  # its own section

flags.DEFINE_bool("quick", False, "Fewer steps, sentences, epochs and repeats: every row in about 10 minutes on "
                  "2 cores.")
flags.DEFINE_list("sections", list(SECTIONS), f"Which benchmarks to run, of {', '.join(SECTIONS)}.")
flags.DEFINE_list("models", list(MODELS), f"Which models, of {', '.join(MODELS)}.")
flags.DEFINE_string("datasets_dir", os.path.join(ROOT, "..", "shared", "datasets"), "Where the real data sets are.")
flags.DEFINE_string("json", None, "Where to write every measurement (default: benchmarks/results.json, or "
                    "benchmarks/results-quick.json with --quick, so a quick run keeps the full tables).")
flags.DEFINE_list("precisions", ["float32", "bfloat16"] if cpu_has_bfloat16() else ["float32"],
                  "Training: the precisions each row is measured in (bfloat16: Keras's mixed policy, PyTorch's "
                  "autocast); by default bfloat16 too where the CPU multiplies it natively.")
flags.DEFINE_bool("xla", False, "Training: also time the zoo path with jit_compile=True.")
flags.DEFINE_bool("as_written", True, "Training: also time plain Keras and PyTorch on their own input (padded to "
                  "the data set's maximum; padded per batch and packed), the 'as each user would write it' columns.")
flags.DEFINE_integer("train_warmup", None, "Training: warm-up batches (default 3, 2 with --quick).")
flags.DEFINE_integer("train_steps", None, "Training: timed batches (default 20, 4 with --quick).")
flags.DEFINE_list("trained", [], "Decoding and serving: MODEL:CONFIG pairs, e.g. "
                  "gnmt:recipes/configs/gnmt_multi30k.flags, to measure the finished run of that recipe config "
                  "instead of training the model's demo config.")
FLAGS = flags.FLAGS


def environment():
    import keras
    import tensorflow as tf
    import torch
    return {"command": " ".join(["python benchmarks/run.py", *sys.argv[1:]]), "commit": commit(), "cpu": cpu_name(),
            "bfloat16": cpu_has_bfloat16(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
            "gpu": [d.name for d in tf.config.list_physical_devices("GPU")],
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def print_table(title, note, markdown):
    print(f"\n### {title}\n\n{note}\n\n{markdown}", flush=True)


def training_section(models, scratch):
    import serving
    import training
    import workloads

    warmup, steps = (2, 4) if FLAGS.quick else (3, 20)
    warmup = warmup if FLAGS.train_warmup is None else FLAGS.train_warmup
    steps = steps if FLAGS.train_steps is None else FLAGS.train_steps
    repeats = 2 if FLAGS.quick else 5
    peaks = {precision: training.peak_rate(1024 if FLAGS.quick else 2048, repeats, precision)
             for precision in FLAGS.precisions}
    builders = {"han": lambda: workloads.han(FLAGS.datasets_dir, scratch),
                "graves_text": lambda: workloads.graves_text(FLAGS.datasets_dir, scratch),
                "graves_handwriting": lambda: workloads.graves_handwriting(
                    FLAGS.datasets_dir, scratch, 400 if FLAGS.quick else 2000)}
    rows, prepared = [], []
    for name in (m for m in models if m not in SYNTHESIS_MODELS):
        if name in serving.TRANSLATION_MODELS:
            workload = getattr(workloads, name)(_translation_data(scratch))
        else:
            workload = builders[name]()
        # Every row's batches before any row is timed (see training.zoo_batches).
        prepared.append((workload, training.zoo_batches(workload, warmup + steps)))
    for workload, batches in prepared:
        for precision in FLAGS.precisions:
            print(f"training: {workload.name}, {precision} ...", flush=True)
            # The "as written" columns show what padding costs each way: once, in float32, is enough.
            row = training.measure(workload, batches, warmup, FLAGS.xla, FLAGS.as_written and precision == "float32",
                                   repeats, precision)
            row["warmup"] = warmup
            row["peak_gflops_per_second"] = peaks[precision]
            rows.append(row)
    print_table(tables.TRAINING, tables.training_note(rows), tables.training_throughput(rows))
    if len(FLAGS.precisions) > 1:
        print_table(*tables.SPEEDUP, tables.precision_speedups(rows))
    print_table(*tables.ARITHMETIC, tables.training_arithmetic(rows))
    return rows


def _translation_data(scratch):
    """Multi30k SentencePiece pieces for the training table, learnt once for the three translation models."""
    import workloads
    global _TRANSLATION
    if _TRANSLATION is None:
        _TRANSLATION = workloads.TranslationData(FLAGS.datasets_dir, scratch)
    return _TRANSLATION


_TRANSLATION = None


_RUNS = {}


def trained_run(name, scratch):
    """The flags of model `name`'s trained run: the finished one `--trained` names, or its demo config trained now."""
    import serving

    if name not in _RUNS:
        trained = dict(pair.split(":", 1) for pair in FLAGS.trained)
        _RUNS[name] = (serving.finished_run(os.path.join(ROOT, trained[name])) if name in trained
                       else serving.train_demo(name, scratch, FLAGS.quick))
    return _RUNS[name]


def decoding_section(models, scratch):
    import decoding
    import serving

    rows = []
    for name in models:
        if name in serving.TRANSLATION_MODELS:
            print(f"decoding: {name} ...", flush=True)
            flags = trained_run(name, scratch)
            test, tokenizer, model, _ = serving.translation_run(name, flags)
            rows += decoding.measure(name, model, tokenizer, flags, os.path.join(scratch, "decoding", name),
                                     test.sources[:32], 3 if FLAGS.quick else 10)
    print_table(*tables.DECODING, tables.decoding(rows))
    return rows


def serving_section(models, scratch):
    import serving

    rows = []
    for name in (m for m in models if m not in SYNTHESIS_MODELS):
        print(f"serving: {name} ...", flush=True)
        rows.append(serving.measure(name, trained_run(name, scratch), FLAGS.quick))
    print_table(*tables.SERVING, tables.serving(rows))
    return rows


def synthesis_section(models, scratch):
    import serving

    rows = []
    for name in (m for m in models if m in SYNTHESIS_MODELS):
        print(f"synthesis: {name} ...", flush=True)
        rows += serving.synthesis(trained_run(name, scratch), FLAGS.quick)
    print_table(*tables.SYNTHESIS, tables.synthesis(rows))
    return rows


def main(argv):
    del argv
    unknown = (set(FLAGS.sections) - set(SECTIONS)) | (set(FLAGS.models) - set(MODELS)) | \
        {pair.split(":")[0] for pair in FLAGS.trained} - set(MODELS) | set(FLAGS.precisions) - {"float32", "bfloat16"}
    if unknown:
        raise app.UsageError(f"unknown section, model or precision: {', '.join(sorted(unknown))}")
    sys.path.insert(0, HERE)
    import serving
    for pair in FLAGS.trained:
        if ":" not in pair:
            raise app.UsageError(f"--trained={pair}: expected MODEL:CONFIG")
        try:
            serving.finished_run(os.path.join(ROOT, pair.split(":", 1)[1]))
        except OSError as e:
            raise app.UsageError(f"--trained={pair}: {e}")
    import torch
    torch.set_num_threads(os.cpu_count())  # TensorFlow uses every core too
    results = {"environment": environment(), "quick": FLAGS.quick}
    print(json.dumps(results["environment"]))
    models = [m for m in MODELS if m in FLAGS.models]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        for section in SECTIONS:
            if section in FLAGS.sections:
                results[section] = globals()[f"{section}_section"](models, scratch)
    results["seconds"] = time.perf_counter() - started
    path = FLAGS.json or os.path.join(HERE, "results-quick.json" if FLAGS.quick else "results.json")
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
    os.replace(path + ".tmp", path)
    print(f"\n{time.perf_counter() - started:.0f} s in all; results in {path}")


if __name__ == "__main__":
    app.run(main)
