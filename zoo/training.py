"""What every recipe shares: run flags, checkpoints and resume, strategy, optimizer, one-line errors.

A recipe defines its model's flags, calls `define_run_flags` for the rest and
hands its `train_and_export()` to `main`; the training loop is `model.fit`
with `fit_callbacks`.
"""

import os
import sys

from absl import flags

import keras

from zoo import distribute, export
from zoo.data.documents import DataError

FLAGS = flags.FLAGS
OPTIMIZERS = ("sgd", "adam", "rmsprop")


class RecipeError(Exception):
    """A problem with the run's set-up, reported as one line."""


def define_run_flags(model_dir, export_dir, optimizer="adam", learning_rate=0.001, batch_size=64, epochs=10):
    """Defines the flags every recipe has, with the recipe's defaults."""
    flags.DEFINE_enum("optimizer", optimizer, OPTIMIZERS, "sgd and rmsprop use momentum 0.9.")
    flags.DEFINE_float("learning_rate", learning_rate, "Learning rate.", lower_bound=0.0)
    flags.DEFINE_float("clipnorm", 0.0, "Clip each gradient to this norm; 0 = no clipping.", lower_bound=0.0)
    flags.DEFINE_integer("batch_size", batch_size, "Global batch size (split across replicas).", lower_bound=1)
    flags.DEFINE_integer("epochs", epochs, "Epochs to train (in all, counting resumed ones).", lower_bound=1)
    flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the training set.", lower_bound=0)
    flags.DEFINE_string("model_dir", model_dir, "Checkpoints, TensorBoard logs, vocabulary, final .keras model.")
    flags.DEFINE_string("export_dir", export_dir, "TF Serving model base path; exports go to <dir>/<version>/.")
    flags.DEFINE_bool("tflite", True, "Also convert the model to TFLite beside the export.")
    flags.DEFINE_bool("resume", False, "Continue from the last checkpoint in --model_dir.")
    flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_integer("seed", 1, "Random seed.")


def prepare_run():
    """Checks the export dir and the model dir before any work; returns the checkpoint folder.

    Refuses to mix a fresh run with an old one: without --resume, a model dir
    holding a checkpoint is an error, and --resume needs one.
    """
    export.check_writable(FLAGS.export_dir)
    backup_dir = os.path.join(FLAGS.model_dir, "checkpoints")
    has_checkpoint = os.path.isdir(backup_dir) and bool(os.listdir(backup_dir))
    if FLAGS.resume and not has_checkpoint:
        raise RecipeError(f"--resume: no checkpoint in {backup_dir}")
    if not FLAGS.resume and has_checkpoint:
        raise RecipeError(f"{backup_dir} holds a checkpoint of an earlier run; "
                          "pass --resume to continue it or choose another --model_dir")
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    return backup_dir


def strategy():
    return distribute.get_strategy(FLAGS.strategy, FLAGS.tpu)


def optimizer():
    """The optimizer the flags name (create it inside the strategy's scope)."""
    clip = {"clipnorm": FLAGS.clipnorm} if FLAGS.clipnorm else {}
    if FLAGS.optimizer == "sgd":
        return keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9, **clip)
    if FLAGS.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(FLAGS.learning_rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(FLAGS.learning_rate, **clip)


def fit(model, train_ds, validation_ds, backup_dir):
    """`model.fit` with a checkpoint each epoch (resumable) and TensorBoard logs.

    The model and its optimizer must be built: BackupAndRestore restores into
    existing variables.
    """
    steps_per_epoch = FLAGS.steps_per_epoch or None
    if steps_per_epoch:
        train_ds = train_ds.repeat()
    callbacks = [
        # Saves weights, optimizer state and the epoch each epoch; restores them on --resume.
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(FLAGS.model_dir, "logs")),
    ]
    return model.fit(train_ds, epochs=FLAGS.epochs, steps_per_epoch=steps_per_epoch, validation_data=validation_ds,
                     callbacks=callbacks)


def main(name, train_and_export):
    """An absl main that runs `train_and_export()` and turns set-up errors into one line."""
    from absl import app

    def run(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            train_and_export()
        except (RecipeError, DataError, PermissionError) as e:
            sys.exit(f"{name}: error: {e}")

    app.run(run)
