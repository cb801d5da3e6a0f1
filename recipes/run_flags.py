"""The flags every recipe shares, read into `zoo.training.RunOptions`, and the recipes' `main`.

Defaults are stated once: a run flag's default is `RunOptions`'s unless the
recipe passes its paper's (`define_run_flags(optimizer="sgd", ...)`), and a
model flag's default is the model constructor's (`constructor_default`).
"""

import dataclasses
import inspect
import sys

from absl import app, flags

from zoo import distribute, training
from zoo.data.files import DataError
from zoo.export.reader import ExportError

FLAGS = flags.FLAGS

_HELP = {
    "model_dir": "Checkpoints, TensorBoard logs, vocabulary, final .keras model.",
    "export_dir": "TF Serving model base path; exports go to <dir>/<version>/.",
    "optimizer": "sgd and rmsprop use momentum 0.9.",
    "learning_rate": "Learning rate.",
    "lr_schedule": "constant: --learning_rate throughout; cosine: a linear warm-up over --warmup_steps, then a "
                   "cosine decay to 0 at the end of --epochs (Loshchilov & Hutter 2017).",
    "warmup_steps": "Steps of linear warm-up from 0 to --learning_rate (--lr_schedule=cosine).",
    "clipnorm": "Clip each gradient to this norm; 0 = no clipping.",
    "batch_size": "Global batch size (split across replicas).",
    "epochs": "Epochs to train (in all, counting resumed ones).",
    "steps_per_epoch": "Steps per epoch; 0 = one pass over the training set.",
    "checkpoint_steps": "Also checkpoint every this many steps; 0 = at each epoch's end only.",
    "average_epochs": "Evaluate and export the mean of the weights at the ends of the last this many epochs "
                      "(checkpoint averaging, as Vaswani et al. 2017); 1 = the last weights.",
    "keep_best": "Evaluate and export the weights of the epoch with the lowest validation loss, not the last "
                 "(early stopping's choice; the run still trains --epochs).",
    "tflite": "Also convert the model to TFLite beside the export.",
    "resume": "Continue from the last checkpoint in --model_dir.",
    "init_from": "Start from this export's weights and tokenizer (fine-tuning): savedmodels/<name> (its newest "
                 "version) or a version directory. The model flags must build the export's sizes.",
    "strategy": "tf.distribute strategy.",
    "tpu": "TPU name or address for --strategy=tpu.",
    "precision": "The computation's: float32, bfloat16 or float16 (variables, optimizer state and loss stay "
                 "float32; float16 scales the loss), or auto: bfloat16 on a TPU or on a CPU with AMX-BF16 or "
                 "AVX512-BF16 and no GPU, else float32. Exports are float32 either way.",
    "jit_compile": "XLA-compile the training step: slower on CPU (benchmarks/README.md), worth a try on a GPU; each "
                   "new batch shape compiles again.",
    "seed": "Random seed.",
}
_ENUMS = {"optimizer": training.OPTIMIZERS, "lr_schedule": training.LR_SCHEDULES, "strategy": distribute.STRATEGIES,
          "precision": training.PRECISIONS}
_POSITIVE = {"batch_size", "epochs", "average_epochs"}


def define_run_flags(name, **paper_defaults):
    """Defines the run flags, with `RunOptions`'s defaults or the recipe's `paper_defaults`.

    `name` gives the default folders: runs/<name> and savedmodels/<name>.
    """
    defaults = {"model_dir": f"runs/{name}", "export_dir": f"savedmodels/{name}", **paper_defaults}
    for field in dataclasses.fields(training.RunOptions):
        default = defaults.get(field.name, field.default)
        help_text = _HELP[field.name]
        if field.name in _ENUMS:
            flags.DEFINE_enum(field.name, default, _ENUMS[field.name], help_text)
        elif field.type is bool:
            flags.DEFINE_bool(field.name, default, help_text)
        elif field.type is int:
            flags.DEFINE_integer(field.name, default, help_text, lower_bound=1 if field.name in _POSITIVE else 0)
        elif field.type is float:
            flags.DEFINE_float(field.name, default, help_text, lower_bound=0.0)
        else:
            flags.DEFINE_string(field.name, default, help_text)


def run_options():
    """The parsed run flags as `RunOptions`."""
    return training.RunOptions(**{field.name: FLAGS[field.name].value
                                  for field in dataclasses.fields(training.RunOptions)})


def vocabulary_size():
    """--vocabulary_size, or None when --init_from gives the vocabulary and the flag is not given."""
    if FLAGS.init_from and FLAGS["vocabulary_size"].using_default_value:
        return None
    return FLAGS.vocabulary_size


def constructor_default(cls, argument):
    """The default of `cls.__init__`'s `argument`: a model's paper setting, the one source of a flag's default."""
    return inspect.signature(cls.__init__).parameters[argument].default


def define_update_dropout(model_class):
    """Defines --update_dropout with `model_class`'s default (0: Graves trained without dropout)."""
    flags.DEFINE_float("update_dropout", constructor_default(model_class, "update_dropout"),
                       "In training, dropout on the LSTMs' cell updates (Semeniuta et al. 2016); inference is "
                       "unchanged.", lower_bound=0.0, upper_bound=0.99)


def main(name, make_recipe):
    """An absl main that trains `make_recipe()` with the run flags; set-up errors end it with one line."""

    def run(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            training.train(make_recipe(), run_options())
        except (training.RecipeError, DataError, ExportError, PermissionError) as e:
            sys.exit(f"{name}: error: {e}")

    app.run(run)
