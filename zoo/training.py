"""What every recipe shares: run flags, checkpoints and resume, strategy, optimizer, one-line errors.

A recipe defines its model's flags, calls `define_run_flags` for the rest and
hands its `train_and_export()` to `main`. The training loop is `fit`:
`model.fit` with checkpoints and TensorBoard logs. Only the chief of a
cluster writes files (`is_chief`).
"""

import hashlib
import os
import shutil
import sys
import tempfile

from absl import flags, logging

import keras
import numpy as np
import tensorflow as tf

from zoo import distribute, export
from zoo.data.files import DataError

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
    flags.DEFINE_integer("checkpoint_steps", 0, "Also checkpoint every this many steps; 0 = at each epoch's end only.",
                         lower_bound=0)
    flags.DEFINE_string("model_dir", model_dir, "Checkpoints, TensorBoard logs, vocabulary, final .keras model.")
    flags.DEFINE_string("export_dir", export_dir, "TF Serving model base path; exports go to <dir>/<version>/.")
    flags.DEFINE_bool("tflite", True, "Also convert the model to TFLite beside the export.")
    flags.DEFINE_bool("resume", False, "Continue from the last checkpoint in --model_dir.")
    flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
    flags.DEFINE_bool("mixed_precision", False, "Compute in float16 (bfloat16 with --strategy=tpu), keep the "
                      "variables in float32: for GPUs and TPUs; slower on a CPU. Exports are float32 either way.")
    flags.DEFINE_bool("jit_compile", False, "XLA-compile the training step: measured slower on CPU "
                      "(benchmarks/README.md), worth a try on a GPU; each new batch shape compiles again.")
    flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
    flags.DEFINE_integer("seed", 1, "Random seed.")


def prepare_run():
    """Creates the strategy, checks the export dir and the model dir before any work; returns the checkpoint folder.

    The strategy comes first: MultiWorkerMirroredStrategy must exist before
    any other TensorFlow op runs. Refuses to mix a fresh run with an old one:
    without --resume, a model dir holding a checkpoint is an error, and
    --resume needs one. On a cluster --model_dir must be a folder every worker
    sees (a shared file system or a bucket): the chief writes there, the
    others read its checkpoint when resuming.
    """
    strategy()
    if is_chief():
        export.check_writable(FLAGS.export_dir)
    backup_dir = os.path.join(FLAGS.model_dir, "checkpoints")
    has_checkpoint = os.path.isdir(backup_dir) and bool(os.listdir(backup_dir))
    if FLAGS.resume and not has_checkpoint:
        raise RecipeError(f"--resume: no checkpoint in {backup_dir}")
    if not FLAGS.resume and has_checkpoint:
        raise RecipeError(f"{backup_dir} holds a checkpoint of an earlier run; "
                          "pass --resume to continue it or choose another --model_dir")
    if is_chief():
        os.makedirs(FLAGS.model_dir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    if FLAGS.mixed_precision:
        # Keras then wraps the optimizer in a LossScaleOptimizer for float16.
        keras.config.set_dtype_policy("mixed_bfloat16" if FLAGS.strategy == "tpu" else "mixed_float16")
    return backup_dir


_strategy = None


def strategy():
    """The run's `tf.distribute` strategy (`--strategy`), created once."""
    global _strategy
    if _strategy is None:
        _strategy = distribute.get_strategy(FLAGS.strategy, FLAGS.tpu)
        logging.info("Strategy %s: %d replicas in sync", FLAGS.strategy, _strategy.num_replicas_in_sync)
    return _strategy


def is_chief():
    """Whether this process writes the run's files (vocabulary, checkpoints, logs, export): only the chief does."""
    return distribute.is_chief(strategy())


def run_tokenizer(tokenizer_class, build_vocabulary, **options):
    """The run's tokenizer, saved in --model_dir so that ids keep their meaning across a resume.

    A fresh run builds it from `build_vocabulary()` and the chief saves it
    (`Tokenizer.save`); with --resume it is loaded back. `options` go to the
    tokenizer's constructor.
    """
    if FLAGS.resume:
        return tokenizer_class.load(FLAGS.model_dir, **options)
    tokenizer = tokenizer_class(build_vocabulary(), **options)
    if is_chief():
        tokenizer.save(FLAGS.model_dir)
    return tokenizer


def optimizer():
    """The optimizer the flags name (create it inside the strategy's scope)."""
    clip = {"clipnorm": FLAGS.clipnorm} if FLAGS.clipnorm else {}
    if FLAGS.optimizer == "sgd":
        return keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9, **clip)
    if FLAGS.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(FLAGS.learning_rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(FLAGS.learning_rate, **clip)


def compile_model(model, loss, **kwargs):
    """`model.compile` with the flags' optimizer and --jit_compile, then builds the model's optimizer.

    Its variables must exist before `fit`: BackupAndRestore restores into
    them (and with --mixed_precision `model.optimizer` is Keras's loss-scale
    wrapper, with variables of its own). Call it in the strategy's scope,
    on a model that has been called once.
    """
    model.compile(optimizer=optimizer(), loss=loss, jit_compile=FLAGS.jit_compile, **kwargs)
    model.optimizer.build(model.trainable_variables)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's callback, with the epoch of its mid-epoch checkpoints right after a resume.

    Keras 3.15's counts epochs from 0 in every `fit` and only moves on at an
    epoch's end: in a resumed run, a checkpoint written every `save_freq`
    batches records epoch 0, and a second resume starts the run over
    (restored weights, epoch count back to 1). It takes the epoch `fit` is
    in instead.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch


def fit(model, train_ds, validation_ds, backup_dir):
    """`model.fit` with checkpoints (resumable) and TensorBoard logs.

    The model and its optimizer must be built: BackupAndRestore restores into
    existing variables. A checkpoint is written at each epoch's end and, with
    --checkpoint_steps, every that many steps; it holds the weights, the
    optimizer's state (its step counter too) and the epoch. Keras resumes at
    the start of the epoch the checkpoint was written in: an interrupted
    epoch is run again from its first batch, from the mid-epoch weights.

    The datasets yield global batches; Keras hands them to the strategy's
    `experimental_distribute_dataset`, which splits each batch across the
    replicas (and, on a cluster, the workers). Workers other than the chief
    write their checkpoints and logs to a temporary folder, as Keras's
    multi-worker guide asks, and restore from the chief's.
    """
    steps_per_epoch = FLAGS.steps_per_epoch or None
    if steps_per_epoch:
        train_ds = train_ds.repeat()
    options = tf.data.Options()
    # The datasets are built in memory on every worker: each takes its part of each batch.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds, validation_ds = train_ds.with_options(options), validation_ds.with_options(options)
    log_dir = os.path.join(FLAGS.model_dir, "logs")
    worker_dir = None
    if not is_chief():
        worker_dir = tempfile.mkdtemp(prefix="zoo-worker-")
        if os.path.isdir(backup_dir):
            shutil.copytree(backup_dir, os.path.join(worker_dir, "checkpoints"))
        backup_dir, log_dir = os.path.join(worker_dir, "checkpoints"), os.path.join(worker_dir, "logs")
    callbacks = [
        BackupAndRestore(backup_dir, save_freq=FLAGS.checkpoint_steps or "epoch", double_checkpoint=True,
                         delete_checkpoint=False),
        keras.callbacks.TensorBoard(log_dir),
    ]
    try:
        history = model.fit(train_ds, epochs=FLAGS.epochs, steps_per_epoch=steps_per_epoch,
                            validation_data=validation_ds, callbacks=callbacks)
    finally:
        if worker_dir:
            shutil.rmtree(worker_dir, ignore_errors=True)
    logging.info("Optimizer steps: %d, weights fingerprint: %s", int(model.optimizer.iterations.numpy()),
                 weights_fingerprint(model))
    return history


def weights_fingerprint(model):
    """SHA-256 of the model's weights: equal on every worker of a run that stayed in sync."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


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
