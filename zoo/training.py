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
LR_SCHEDULES = ("constant", "cosine")
EPOCH_WEIGHTS = "epoch_weights"  # the folder of --model_dir that keeps the last --average_epochs epochs' weights


class RecipeError(Exception):
    """A problem with the run's set-up, reported as one line."""


def define_run_flags(model_dir, export_dir, optimizer="adam", learning_rate=0.001, batch_size=64, epochs=10):
    """Defines the flags every recipe has, with the recipe's defaults."""
    flags.DEFINE_enum("optimizer", optimizer, OPTIMIZERS, "sgd and rmsprop use momentum 0.9.")
    flags.DEFINE_float("learning_rate", learning_rate, "Learning rate.", lower_bound=0.0)
    flags.DEFINE_enum("lr_schedule", "constant", LR_SCHEDULES, "constant: --learning_rate throughout; cosine: a "
                      "linear warm-up over --warmup_steps, then a cosine decay to 0 at the end of --epochs "
                      "(Loshchilov & Hutter 2017).")
    flags.DEFINE_integer("warmup_steps", 0, "Steps of linear warm-up from 0 to --learning_rate (--lr_schedule=cosine).",
                         lower_bound=0)
    flags.DEFINE_float("clipnorm", 0.0, "Clip each gradient to this norm; 0 = no clipping.", lower_bound=0.0)
    flags.DEFINE_integer("batch_size", batch_size, "Global batch size (split across replicas).", lower_bound=1)
    flags.DEFINE_integer("epochs", epochs, "Epochs to train (in all, counting resumed ones).", lower_bound=1)
    flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the training set.", lower_bound=0)
    flags.DEFINE_integer("checkpoint_steps", 0, "Also checkpoint every this many steps; 0 = at each epoch's end only.",
                         lower_bound=0)
    flags.DEFINE_integer("average_epochs", 1, "Evaluate and export the mean of the weights at the ends of the last "
                         "this many epochs (checkpoint averaging, as Vaswani et al. 2017); 1 = the last weights.",
                         lower_bound=1)
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


def learning_rate(train_ds):
    """--learning_rate, or the --lr_schedule over the run's steps (--epochs of `train_ds`'s batches or --steps_per_epoch).

    The schedule is a function of the optimizer's step counter, which the
    checkpoints hold: a resumed run goes on where it stopped.
    """
    if FLAGS.lr_schedule == "constant":
        if FLAGS.warmup_steps:
            raise RecipeError("--warmup_steps needs --lr_schedule=cosine")
        return FLAGS.learning_rate
    steps_per_epoch = FLAGS.steps_per_epoch or int(train_ds.reduce(0, lambda count, _: count + 1))
    total = FLAGS.epochs * steps_per_epoch
    if FLAGS.warmup_steps >= total:
        raise RecipeError(f"--warmup_steps={FLAGS.warmup_steps} leaves nothing to decay: the run has {total} steps")
    logging.info("Learning rate: %d warm-up steps to %g, cosine decay to 0 at step %d", FLAGS.warmup_steps,
                 FLAGS.learning_rate, total)
    if not FLAGS.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(FLAGS.learning_rate, total)
    return keras.optimizers.schedules.CosineDecay(0.0, total - FLAGS.warmup_steps, warmup_target=FLAGS.learning_rate,
                                                  warmup_steps=FLAGS.warmup_steps)


def optimizer(train_ds):
    """The optimizer the flags name, for training on `train_ds` (create it inside the strategy's scope)."""
    rate = learning_rate(train_ds)
    clip = {"clipnorm": FLAGS.clipnorm} if FLAGS.clipnorm else {}
    if FLAGS.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **clip)
    if FLAGS.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(rate, **clip)


def compile_model(model, loss, train_ds, **kwargs):
    """`model.compile` with the flags' optimizer and --jit_compile, then builds the model's optimizer.

    `train_ds` is the training set `fit` will get: a learning-rate schedule
    counts its batches. The optimizer's variables must exist before `fit`:
    BackupAndRestore restores into them (and with --mixed_precision
    `model.optimizer` is Keras's loss-scale wrapper, with variables of its
    own). Call it in the strategy's scope, on a model that has been called
    once.
    """
    model.compile(optimizer=optimizer(train_ds), loss=loss, jit_compile=FLAGS.jit_compile, **kwargs)
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


class EpochWeights(keras.callbacks.Callback):
    """Saves the weights at each epoch's end to `folder`, keeping the last `keep` epochs' files."""

    def __init__(self, folder, keep):
        super().__init__()
        self.folder, self.keep = folder, keep

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"epoch_{epoch + 1:04d}.weights.h5")
        temporary = path + ".tmp.weights.h5"  # Keras wants the suffix; the rename makes the file whole or absent
        self.model.save_weights(temporary, overwrite=True)
        os.replace(temporary, path)
        for old in epoch_weight_files(self.folder)[: -self.keep]:
            os.remove(old)


def epoch_weight_files(folder):
    """`EpochWeights`'s files in `folder`, oldest first."""
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, name) for name in os.listdir(folder)
                  if name.startswith("epoch_") and name.endswith(".weights.h5") and ".tmp." not in name)


def average_weights(model, paths):
    """Sets `model`'s weights to the mean of the weight files `paths`."""
    collected = []
    for path in paths:
        model.load_weights(path)
        collected.append(model.get_weights())
    model.set_weights([np.mean(values, axis=0).astype(values[0].dtype) for values in zip(*collected)])


def fit(model, train_ds, validation_ds, backup_dir, callbacks=()):
    """`model.fit` with checkpoints (resumable) and TensorBoard logs; with --average_epochs, averages the weights.

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

    With --average_epochs=N > 1 the weights at each epoch's end are also
    saved to `<model_dir>/epoch_weights/` (the last N kept), and after the
    last epoch the model's weights become the mean of those N: evaluation,
    the .keras file and the export get the average; the checkpoint keeps
    the last weights, so a resumed run trains on from them.

    `callbacks` go to `model.fit` after the run's own.
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
        *callbacks,
    ]
    epochs_dir = os.path.join(worker_dir or FLAGS.model_dir, EPOCH_WEIGHTS)
    if FLAGS.average_epochs > 1:
        callbacks.append(EpochWeights(epochs_dir, FLAGS.average_epochs))
    try:
        history = model.fit(train_ds, epochs=FLAGS.epochs, steps_per_epoch=steps_per_epoch,
                            validation_data=validation_ds, callbacks=callbacks)
        if FLAGS.average_epochs > 1:
            paths = epoch_weight_files(epochs_dir)
            logging.info("Averaging the weights of %d epochs: %s", len(paths), [os.path.basename(p) for p in paths])
            average_weights(model, paths)
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
