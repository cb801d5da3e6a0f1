"""float32 against bfloat16 training: the same steps of each recipe's real config, from the same initial weights.

    python benchmarks/precision.py --models=graves_text --steps=300 --eval_every=100
    python benchmarks/precision.py                        # every model of zoo/registry.py, writes precision.json

For each model and precision, a fresh process loads the recipe
(`recipes/train_<name>.py`) with its real-data flagfile
(`recipes/configs/<name>_<set>.flags`), and with `--precision`, the same
`--seed` (so the same initial weights and batches) and `--steps_per_epoch
= --eval_every`, runs the recipe's own data, tokenizer, model, loss and
optimizer through `model.fit` for `--steps` steps, reading the validation
split (its first `--valid_batches` batches) every `--eval_every` steps.
Nothing is evaluated on test or exported. The learning-rate schedule of the
config spans the `--steps` (cosine decays to 0 at the last one).

Each row: the validation loss after every `--eval_every` steps (the
recipe's training loss: nats a character, a point or a target piece,
label-smoothed for the translators) and the median seconds a training step
takes after the first `--eval_every` (which include tracing). Results go to
`benchmarks/precision.json`, which `benchmarks/tables.py` makes into benchmarks/README.md's table.
"""

import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import time

from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import tables  # noqa: E402 (after the path: benchmarks/ runs as a script)
from machine import commit, cpu_name  # noqa: E402
from zoo import registry  # noqa: E402

# The real-data config of each model.
CONFIGS = {"han": "han_imdb", "graves_text": "graves_text_ptb", "graves_handwriting": "graves_handwriting_iam",
           "graves_synthesis": "graves_synthesis_iam", "sutskever": "sutskever_multi30k", "cho": "cho_multi30k",
           "gnmt": "gnmt_multi30k"}
PRECISIONS = ("float32", "bfloat16")
# Changed in both runs alike: HAN's word2vec initialisation is left out (minutes of gensim that precision does not
# touch); the translators warm up over 100 steps, not 300, so that a short run still decays.
OVERRIDES = {"han": ["--word2vec_epochs=0"], **{name: ["--warmup_steps=100"] for name in ("sutskever", "cho", "gnmt")}}
RESULTS = os.path.join(HERE, "precision.json")

flags.DEFINE_list("models", [entry.name for entry in registry.MODELS], "Which models.")
flags.DEFINE_integer("steps", 300, "Training steps of each run.", lower_bound=1)
flags.DEFINE_integer("eval_every", 100, "Steps between validation readings.", lower_bound=1)
flags.DEFINE_integer("valid_batches", 20, "Validation batches read each time; 0 = the whole split.", lower_bound=0)
flags.DEFINE_integer("seed", 1, "The runs' --seed: their initial weights and batches.")
flags.DEFINE_string("scratch", "/tmp/zoo-precision", "Run folders (checkpoints, vocabularies).")
FLAGS = flags.FLAGS


class StepClock:
    """Each training step's wall time, from `on_train_batch_begin` to `on_train_batch_end`."""

    def __init__(self):
        import keras

        clock = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                clock.start = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                clock.seconds.append(time.perf_counter() - clock.start)

        self.seconds, self.callback = [], Callback()


def run_one(name, precision, steps, eval_every, valid_batches, scratch, seed):
    """One run, in this process: {"validation_loss": [...], "step_seconds": median, ...}."""
    sys.path.insert(0, os.path.join(ROOT, "recipes"))
    module = runpy.run_path(os.path.join(ROOT, "recipes", f"train_{name}.py"), run_name=f"recipe_{name}")
    import run_flags
    import translation_flags
    from zoo import training

    model_dir = os.path.join(scratch, f"{name}_{precision}")
    shutil.rmtree(model_dir, ignore_errors=True)  # a run of its own each time, never a resumed one
    flags.FLAGS([f"train_{name}", f"--flagfile={os.path.join(ROOT, 'recipes', 'configs', CONFIGS[name])}.flags",
                 f"--precision={precision}", f"--model_dir={model_dir}", f"--export_dir={scratch}/exports",
                 f"--steps_per_epoch={eval_every}", f"--epochs={steps // eval_every}", "--checkpoint_steps=0",
                 "--average_epochs=1", f"--seed={seed}", *OVERRIDES.get(name, [])])
    options = run_flags.run_options()
    recipes = [value for value in module.values()
               if isinstance(value, type) and issubclass(value, training.Recipe) and value is not training.Recipe]
    recipe = recipes[0]() if recipes else translation_flags.recipe(name, module["build_model"])
    os.chdir(ROOT)  # the configs' --data_dir are relative to the repository
    run = training.set_up(recipe, options)
    valid_ds = run.valid_ds.take(valid_batches) if valid_batches else run.valid_ds
    clock = StepClock()
    history = run.trained.fit(run.train_ds.repeat(), epochs=options.epochs, steps_per_epoch=eval_every,
                          validation_data=valid_ds, callbacks=[*recipe.callbacks(), clock.callback], verbose=2)
    return {"model": name, "precision": precision, "config": CONFIGS[name], "seed": seed, "steps": steps,
            "eval_every": eval_every, "valid_batches": valid_batches,
            "validation_loss": [float(v) for v in history.history["val_loss"]],
            "training_loss": [float(v) for v in history.history["loss"]],
            "step_seconds": statistics.median(clock.seconds[eval_every:] or clock.seconds)}


def run_in_fresh_process(name, precision):
    """`run_one` in a new Python process (a dtype policy is global to a process); its result."""
    command = [sys.executable, __file__, f"--models={name}", f"--steps={FLAGS.steps}",
               f"--eval_every={FLAGS.eval_every}", f"--valid_batches={FLAGS.valid_batches}",
               f"--scratch={FLAGS.scratch}", f"--seed={FLAGS.seed}", f"--worker_precision={precision}"]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if done.returncode:
        raise RuntimeError(f"{name} {precision}: {done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{name} {precision}: validation {result['validation_loss']}, {result['step_seconds']:.3f} s a step "
          f"({time.time() - started:.0f} s in all)", flush=True)
    return result


def main(argv):
    unknown = set(FLAGS.models) - set(CONFIGS)
    if unknown:
        raise app.UsageError(f"unknown models {sorted(unknown)}; known: {', '.join(CONFIGS)}")
    results = []
    if os.path.exists(RESULTS):
        with open(RESULTS, encoding="utf-8") as f:
            results = [r for r in json.load(f)["runs"]
                       if r["model"] not in FLAGS.models or r.get("seed", 1) != FLAGS.seed]
    for name in FLAGS.models:
        for precision in PRECISIONS:
            results.append(run_in_fresh_process(name, precision))
        write_results(results)  # each model's rows as soon as they are measured
    print(tables.precision_runs(results))
    print("benchmarks/README.md's tables: python benchmarks/tables.py")


def write_results(results):
    with open(RESULTS + ".tmp", "w", encoding="utf-8") as f:
        json.dump({"commit": commit(), "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(), "runs": results}, f,
                  indent=1)
    os.replace(RESULTS + ".tmp", RESULTS)


if __name__ == "__main__":
    if any(arg.startswith("--worker_precision=") for arg in sys.argv):
        worker = next(arg for arg in sys.argv if arg.startswith("--worker_precision=")).split("=", 1)[1]
        argv = [arg for arg in sys.argv if not arg.startswith("--worker_precision=")]
        FLAGS(argv)
        name = FLAGS.models[0]
        settings = (FLAGS.steps, FLAGS.eval_every, FLAGS.valid_batches, FLAGS.scratch, FLAGS.seed)
        # The recipe's flags are defined in this process next: the benchmark's own must not clash with them.
        for own in ("models", "steps", "eval_every", "valid_batches", "scratch", "seed"):
            delattr(FLAGS, own)
        FLAGS.unparse_flags()
        print(json.dumps(run_one(name, worker, *settings)))
    else:
        app.run(main)
