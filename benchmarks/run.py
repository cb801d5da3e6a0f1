"""Runs the zoo's benchmarks and prints a table for each; writes them all to JSON.

    python benchmarks/run.py --quick          # every row, fewer steps: about 10 minutes on 2 cores
    python benchmarks/run.py --trained=gnmt:recipes/configs/gnmt_multi30k.flags   # benchmarks/README.md's tables
    python benchmarks/run.py --sections=training --models=gnmt,han
    python benchmarks/run.py --sections=synthesis --models=graves_synthesis   # handwriting synthesis: writing lines

Needs the `[bench]` extra (`pip install -e .[bench]`: PyTorch 2.13, CPU
build). Real data sets are read from --datasets_dir (the project's
`../shared/datasets`); a missing one is replaced by the zoo's generated demo
data, and the table says which was used.
"""

import json
import os
import platform
import statistics
import sys
import tempfile
import time

from absl import app, flags

from zoo import registry

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
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or 'cpu'}",
            "gpu": [d.name for d in tf.config.list_physical_devices("GPU")],
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def print_table(title, columns, rows):
    """A Markdown table: `columns` are (header, format function of a row)."""
    cells = [[str(f(r)) for _, f in columns] for r in rows]
    widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.ljust(w) for (h, _), w in zip(columns, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for c in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(c, widths)) + " |")
    sys.stdout.flush()


def training_section(models, scratch):
    import serving
    import training
    import workloads

    warmup, steps = (2, 4) if FLAGS.quick else (3, 20)
    warmup = warmup if FLAGS.train_warmup is None else FLAGS.train_warmup
    steps = steps if FLAGS.train_steps is None else FLAGS.train_steps
    repeats = 2 if FLAGS.quick else 5
    peak = training.peak_rate(1024 if FLAGS.quick else 2048, repeats)
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
        print(f"training: {workload.name} ...", flush=True)
        row = training.measure(workload, batches, warmup, FLAGS.xla, FLAGS.as_written, repeats)
        row["peak_gflops_per_second"] = peak
        rows.append(row)
    ways = ["zoo", "plain_keras", "pytorch"] + (["zoo_xla"] if FLAGS.xla else [])
    names = {"zoo": "zoo", "plain_keras": "plain Keras", "pytorch": "PyTorch", "zoo_xla": "zoo + XLA"}
    rate = lambda way: lambda r: f"{r[way]['per_second']:,.0f}"
    columns = [("model", lambda r: r["model"]), ("unit/s", lambda r: r["unit"])]
    columns += [(names[way], rate(way)) for way in ways]
    columns += [("zoo / plain", lambda r: f"{r['zoo_vs_plain']:.2f}×"),
                ("zoo / PyTorch", lambda r: f"{r['zoo_vs_pytorch']:.2f}×")]
    if FLAGS.as_written:
        columns += [("plain Keras, as written", rate("plain_keras_as_written")),
                    ("PyTorch, as written", rate("pytorch_as_written"))]
    columns += [("parameters zoo / plain / PyTorch",
                 lambda r: f"{r['zoo']['parameters']:,} / {r['plain_keras']['parameters']:,} / "
                           f"{r['pytorch']['parameters']:,}"),
                ("size", lambda r: r["size"]), ("data", lambda r: r["data"])]
    print_table(f"Training throughput on identical batches (batch {training.BATCH}, {steps} timed steps after "
                f"{warmup}; as written: each one's own input)", columns, rows)
    gflops = lambda way: lambda r: f"{r[way]['gflops_per_second']:,.1f} ({100 * r[way]['share_of_gemm']:.0f}%)"
    gemm = lambda r: r["recurrent_gemm"]
    print_table("Training arithmetic: matrix-product GFLOP/s on the same batches (share of tf.matmul at the main "
                "recurrent layer's sizes)", [
        ("model", lambda r: r["model"]), ("GFLOP a step", lambda r: f"{r['flops_per_step'] / 1e9:,.2f}"),
        *[(names[way], gflops(way)) for way in ways],
        ("recurrent GEMM per step", lambda r: f"{gemm(r)['rows']}×{gemm(r)['features']} · "
                                              f"{gemm(r)['features']}×{gemm(r)['gates'] * gemm(r)['units']} + "
                                              f"{gemm(r)['rows']}×{gemm(r)['units']} · "
                                              f"{gemm(r)['units']}×{gemm(r)['gates'] * gemm(r)['units']}, "
                                              f"{gemm(r)['steps']} steps"),
        ("GEMM GFLOP/s", lambda r: f"{gemm(r)['gflops_per_second']:,.1f}"),
        ("peak GFLOP/s", lambda r: f"{r['peak_gflops_per_second']:,.1f}"),
    ], rows)
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
    print_table("Decoding latency: exported SavedModel against the same decoder run eagerly (median)", [
        ("model", lambda r: r["model"]), ("parameters", lambda r: f"{r['parameters']:,}"),
        ("decoder", lambda r: r["decoder"]), ("batch", lambda r: r["batch"]),
        ("SavedModel ms", lambda r: f"{r['savedmodel_ms']:,.1f}"), ("eager loop ms", lambda r: f"{r['eager_ms']:,.0f}"),
        ("speed-up", lambda r: f"{r['speedup']:.1f}×"),
        ("same translations", lambda r: f"{100 * r['same_translations']:.0f}%"),
        ("max_length", lambda r: r["max_length"]),
    ], rows)
    return rows


def serving_section(models, scratch):
    import serving

    rows = []
    for name in (m for m in models if m not in SYNTHESIS_MODELS):
        print(f"serving: {name} ...", flush=True)
        rows.append(serving.measure(name, trained_run(name, scratch), FLAGS.quick))
    megabytes = lambda key: lambda r: f"{r[key] / 1e6:.2f}"
    score = lambda key: lambda r: f"{r[key]:.3f}" if r["metric"] != "BLEU" else f"{r[key]:.2f}"
    print_table("Serving at batch 1: SavedModel vs TFLite (float, dynamic-range quantised); median latency", [
        ("model", lambda r: r["model"]), ("SavedModel ms", lambda r: f"{r['savedmodel_ms']:.1f}"),
        ("TFLite ms", lambda r: f"{r['tflite_float_ms']:.1f}"),
        ("quantised ms", lambda r: f"{r['tflite_quantised_ms']:.1f}"),
        ("SavedModel MB", megabytes("savedmodel_bytes")), ("TFLite MB", megabytes("tflite_float_bytes")),
        ("quantised MB", megabytes("tflite_quantised_bytes")), ("metric", lambda r: r["metric"]),
        ("reference", score("savedmodel_score")), ("TFLite", score("tflite_float_score")),
        ("quantised", score("tflite_quantised_score")),
        ("change", lambda r: f"{r['quantisation_change']:+.3f}" if r["metric"] != "BLEU"
         else f"{r['quantisation_change']:+.2f}"),
        ("test data", lambda r: r["data"]),
    ], rows)
    return rows


def synthesis_section(models, scratch):
    import serving

    rows = []
    for name in (m for m in models if m in SYNTHESIS_MODELS):
        print(f"synthesis: {name} ...", flush=True)
        rows += serving.synthesis(trained_run(name, scratch), FLAGS.quick)
    print_table(f"Handwriting synthesis: writing {serving.SYNTHESIS_CHARACTERS}-character lines, SavedModel vs a "
                "Python loop over the LiteRT step cell (median)", [
        ("model", lambda r: r["model"]), ("way", lambda r: r["way"]), ("lines", lambda r: r["batch"]),
        ("calls", lambda r: r["calls"]), ("points/s", lambda r: f"{r['points_per_second']:,.0f}"),
        ("ms a line", lambda r: f"{r['ms_per_line']:,.0f}"), ("ms in all", lambda r: f"{r['ms']:,.0f}"),
        ("points a line", lambda r: f"{sum(r['lengths']) / len(r['lengths']):.0f}"),
        ("finished", lambda r: f"{sum(r['finished'])}/{len(r['finished'])}"), ("data", lambda r: r["data"]),
    ], rows)
    # serving.synthesis's rows: SavedModel 1, 16 lines, LiteRT loop 1, 16; the 16-line rows write the same texts.
    for savedmodel, loop in zip(rows[1::4], rows[3::4]):
        ratios = [b / a for a, b in zip(savedmodel["lengths"], loop["lengths"])]
        same = sum(a == b for a, b in zip(savedmodel["finished"], loop["finished"]))
        print(f"\n{savedmodel['model']}, the same {len(ratios)} texts: both stop (finished) alike on {same}; "
              f"points a line LiteRT / SavedModel: median {statistics.median(ratios):.2f}, "
              f"{min(ratios):.2f}–{max(ratios):.2f} (different random numbers: lengths agree only roughly)")
    return rows


def main(argv):
    del argv
    unknown = (set(FLAGS.sections) - set(SECTIONS)) | (set(FLAGS.models) - set(MODELS)) | \
        {pair.split(":")[0] for pair in FLAGS.trained} - set(MODELS)
    if unknown:
        raise app.UsageError(f"unknown section or model: {', '.join(sorted(unknown))}")
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
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"\n{time.perf_counter() - started:.0f} s in all; results in {path}")


if __name__ == "__main__":
    app.run(main)
