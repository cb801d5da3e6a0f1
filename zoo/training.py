"""The one training routine every recipe runs, and what it is made of.

A recipe (`Recipe`) says only what differs: its data, its tokenizer, its
model, its loss, its metric and its export. `train(recipe, options)` does
the rest, in this order:

1. the run's `tf.distribute` strategy, then the checks of the run and export
   folders (a fresh run never mixes with an old one's checkpoint);
2. the data, and the tokenizer: built from the training split and saved in
   the run folder, read back from it when resuming, or taken from the export
   `options.init_from` names (fine-tuning);
3. in the strategy's scope: the model, built, its weights taken from the
   export (`init_from`), compiled with the options' optimizer;
4. `model.fit` with checkpoints (resumable), TensorBoard logs and, with
   `average_epochs`, the mean of the last epochs' weights, or with
   `keep_best`, the weights of the epoch with the lowest validation loss;
5. on the chief only: the recipe's evaluation of a float32 copy, the `.keras`
   file, the export and `metrics.json`.

Library code takes arguments: `RunOptions` holds what a recipe's run flags
say (`recipes/run_flags.py` defines the flags and fills it).
"""

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile

import keras
import numpy as np
import tensorflow as tf

from zoo import distribute, export
from zoo.export import reader

log = logging.getLogger(__name__)
OPTIMIZERS = ("sgd", "adam", "rmsprop")
# auto: bfloat16 on a CPU that multiplies it natively (`cpu_has_bfloat16`) or a TPU, else float32.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
LR_SCHEDULES = ("constant", "cosine")
EPOCH_WEIGHTS = "epoch_weights"  # the folder of model_dir that keeps the last average_epochs epochs' weights
BEST_EPOCH = "best_epoch"  # the folder of model_dir that keeps the weights of keep_best's epoch


class RecipeError(Exception):
    """A problem with the run's set-up, reported as one line."""


@dataclasses.dataclass
class RunOptions:
    """How a run trains, checkpoints and exports; every recipe's run flags, by the same names.

    The defaults are the recipes' unless a recipe states its paper's
    (`recipes/run_flags.py` takes a flag's default from here, or from the
    recipe's overrides).
    """

    model_dir: str
    export_dir: str
    optimizer: str = "adam"  # sgd and rmsprop use momentum 0.9
    learning_rate: float = 0.001
    lr_schedule: str = "constant"  # constant, or cosine: a linear warm-up, then a cosine decay to 0 at the end
    warmup_steps: int = 0
    clipnorm: float = 0.0  # clip each gradient to this norm; 0 = no clipping
    batch_size: int = 64  # global: split across replicas
    epochs: int = 10  # in all, counting resumed ones
    steps_per_epoch: int = 0  # 0 = one pass over the training set
    checkpoint_steps: int = 0  # also checkpoint every this many steps; 0 = at each epoch's end only
    average_epochs: int = 1  # export the mean of the last this many epochs' weights
    keep_best: bool = False  # export the weights of the epoch with the lowest validation loss, not the last
    tflite: bool = True
    resume: bool = False
    init_from: str = ""  # an export whose weights and tokenizer the run starts from
    strategy: str = "default"
    tpu: str = ""
    precision: str = "float32"  # of the computation (PRECISIONS); variables, optimizer state and loss stay float32
    jit_compile: bool = False
    seed: int = 1


class Recipe:
    """What one recipe trains: override the methods that differ; `train` calls them in order.

    `name` names the run's `.keras` file. `loss` and `metrics` go to
    `model.compile`. A recipe holds its own settings (data folder, model
    sizes) and the run's `options` (set by `train`).
    """

    name = "model"
    tokenizer_class = None  # a zoo.text.Tokenizer class, or None for a model that reads numbers
    tokenizer_options = {}
    vocabulary_size = None  # the vocabulary the run asks for; with init_from, the export's must be as large
    metrics = ()

    def read_data(self):
        """The run's data, whatever shape the recipe's other methods take."""
        raise NotImplementedError

    def build_vocabulary(self, data):
        """The tokenizer's vocabulary (or model) from the training data: a fresh run's."""
        raise NotImplementedError

    def datasets(self, data, tokenizer, replicas):
        """(training, validation) `tf.data` datasets of global batches."""
        raise NotImplementedError

    def build_model(self, tokenizer):
        """The model, not yet built."""
        raise NotImplementedError

    def loss(self):
        raise NotImplementedError

    def initialise(self, model, data, tokenizer):
        """Sets weights before training in a run from scratch (not resumed, not `init_from`)."""

    def trainer(self, model, replicas):
        """The model `fit` trains: `model`, or a wrapper that trains it."""
        return model

    def callbacks(self):
        return []

    def evaluate(self, model, data, tokenizer):
        """Test (or validation) metrics of the float32 `model`, printed; returns `{name: value}` for metrics.json."""
        raise NotImplementedError

    def export(self, model, tokenizer):
        """Writes the export under `options.export_dir` (after `evaluate`); returns its path."""
        raise NotImplementedError


@dataclasses.dataclass
class Run:
    """A run set up to train (`set_up`): what `fit` and the evaluation take."""

    strategy: tf.distribute.Strategy
    data: object  # the recipe's `read_data()`
    tokenizer: object
    train_ds: tf.data.Dataset
    valid_ds: tf.data.Dataset
    steps_per_epoch: int
    model: keras.Model
    trained: keras.Model  # what `fit` trains: `model`, or the recipe's wrapper of it


def set_up(recipe, options):
    """Everything before `fit` (module docstring, steps 1-3); returns the `Run`."""
    recipe.options = options
    strategy = prepare_run(options)
    init = reader.Export(options.init_from) if options.init_from else None
    data = recipe.read_data()
    tokenizer = run_tokenizer(recipe, data, options, distribute.is_chief(strategy), init)
    replicas = strategy.num_replicas_in_sync
    train_ds, valid_ds = recipe.datasets(data, tokenizer, replicas)
    steps_per_epoch = options.steps_per_epoch or count_batches(train_ds)
    with strategy.scope():
        model = recipe.build_model(tokenizer)
        model(model.example_input())
        if init is not None:
            init.copy_weights_to(model)
        elif not options.resume:
            recipe.initialise(model, data, tokenizer)
        trained = recipe.trainer(model, replicas)
        compile_model(trained, recipe.loss(), options, steps_per_epoch, metrics=list(recipe.metrics))
    return Run(strategy, data, tokenizer, train_ds, valid_ds, steps_per_epoch, model, trained)


def train(recipe, options):
    """Trains, evaluates and exports `recipe` as `options` say (module docstring); returns metrics.json's dict.

    Workers other than the chief train and return None.
    """
    run = set_up(recipe, options)
    fit(run.trained, run.train_ds, run.valid_ds, options, run.steps_per_epoch, run.strategy,
        callbacks=recipe.callbacks())
    if not distribute.is_chief(run.strategy):
        return None
    # Evaluated in float32, as exported (the model may have trained in mixed precision).
    metrics = recipe.evaluate(export.portable_copy(run.model), run.data, run.tokenizer)
    run.model.save(os.path.join(options.model_dir, f"{recipe.name}.keras"))
    path = recipe.export(run.model, run.tokenizer)
    metrics = {**metrics, "precision": compute_precision(options), "export": path}
    write_json(os.path.join(options.model_dir, "metrics.json"), metrics)
    print(f"exported: {path}")
    return metrics


def write_json(path, content):
    """Writes `content` as JSON to `path`, whole or not at all."""
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
    os.replace(path + ".tmp", path)


def prepare_run(options):
    """Creates the strategy, checks the export dir and the model dir before any work; returns the strategy.

    The strategy comes first: MultiWorkerMirroredStrategy must exist before
    any other TensorFlow op runs. Refuses to mix a fresh run with an old one:
    without `resume`, a model dir holding a checkpoint is an error, and
    `resume` needs one. On a cluster `model_dir` must be a folder every worker
    sees (a shared file system or a bucket): the chief writes there, the
    others read its checkpoint when resuming.
    """
    if options.resume and options.init_from:
        raise RecipeError("--init_from starts a run from an export; --resume continues one from its checkpoint: "
                          "pass one of them")
    if options.keep_best and options.average_epochs > 1:
        raise RecipeError("--keep_best exports one epoch's weights, --average_epochs the mean of the last ones: "
                          "pass one of them")
    strategy = distribute.get_strategy(options.strategy, options.tpu)
    log.info("Strategy %s: %d replicas in sync", options.strategy, strategy.num_replicas_in_sync)
    chief = distribute.is_chief(strategy)
    if chief:
        export.check_writable(options.export_dir)
    backup_dir = checkpoint_dir(options)
    has_checkpoint = os.path.isdir(backup_dir) and bool(os.listdir(backup_dir))
    if options.resume and not has_checkpoint:
        raise RecipeError(f"--resume: no checkpoint in {backup_dir}")
    if not options.resume and has_checkpoint:
        raise RecipeError(f"{backup_dir} holds a checkpoint of an earlier run; "
                          "pass --resume to continue it or choose another --model_dir")
    if chief:
        os.makedirs(options.model_dir, exist_ok=True)
        if not options.resume:  # epochs an earlier run kept (stopped before its first checkpoint) are not this run's
            for folder in (EPOCH_WEIGHTS, BEST_EPOCH):
                shutil.rmtree(os.path.join(options.model_dir, folder), ignore_errors=True)
    keras.utils.set_random_seed(options.seed)
    precision = compute_precision(options)
    log.info("Precision: %s%s", precision, " (auto)" if options.precision == "auto" else "")
    if precision != "float32":
        # Keras then keeps the variables in float32 and, for float16, wraps the optimizer in a LossScaleOptimizer.
        keras.config.set_dtype_policy(f"mixed_{precision}")
    return strategy


def compute_precision(options):
    """The precision `options.precision` names; "auto": bfloat16 on a TPU or on a CPU with native bfloat16
    products when no GPU is present, float32 elsewhere."""
    if options.precision != "auto":
        return options.precision
    if options.strategy == "tpu":
        return "bfloat16"
    if not tf.config.list_physical_devices("GPU") and cpu_has_bfloat16():
        return "bfloat16"
    return "float32"


def cpu_has_bfloat16():
    """Whether this CPU multiplies bfloat16 natively (AMX-BF16 or AVX512-BF16), as Linux's /proc/cpuinfo says."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return bool(re.search(r"\b(amx_bf16|avx512_bf16)\b", f.read()))
    except OSError:
        return False


def checkpoint_dir(options):
    return os.path.join(options.model_dir, "checkpoints")


def run_tokenizer(recipe, data, options, chief=True, init=None):
    """The run's tokenizer, saved in the run folder so that ids keep their meaning across a resume.

    Resumed: read back from the run folder. `init`: the export's. Otherwise
    built from `recipe.build_vocabulary(data)`. The `chief` saves it
    (`Tokenizer.save`). None for a recipe without one.
    """
    if recipe.tokenizer_class is None:
        return None
    if options.resume:
        return recipe.tokenizer_class.load(options.model_dir, **recipe.tokenizer_options)
    if init is not None:
        tokenizer = init.tokenizer
        if not isinstance(tokenizer, recipe.tokenizer_class):
            raise RecipeError(f"--init_from={options.init_from}: its tokenizer is a "
                              f"{type(tokenizer).__name__}, this recipe's a {recipe.tokenizer_class.__name__}")
        if recipe.vocabulary_size not in (None, tokenizer.vocabulary_size):
            raise RecipeError(f"--vocabulary_size={recipe.vocabulary_size} disagrees with --init_from="
                              f"{options.init_from}, whose vocabulary has {tokenizer.vocabulary_size} entries: "
                              f"pass --vocabulary_size={tokenizer.vocabulary_size} or leave the flag out")
    else:
        tokenizer = recipe.tokenizer_class(recipe.build_vocabulary(data), **recipe.tokenizer_options)
    if chief:
        tokenizer.save(options.model_dir)
    return tokenizer


def count_batches(dataset):
    """The batches of one pass over `dataset` (a dataset that does not know its length is read once)."""
    known = int(dataset.cardinality())
    if known >= 0:
        return known
    return int(dataset.reduce(0, lambda count, _: count + 1))


def learning_rate(options, steps_per_epoch):
    """`options.learning_rate`, or its `lr_schedule` over the run's `epochs` × `steps_per_epoch` steps.

    The schedule is a function of the optimizer's step counter, which the
    checkpoints hold: a resumed run goes on where it stopped.
    """
    if options.lr_schedule == "constant":
        if options.warmup_steps:
            raise RecipeError("--warmup_steps needs --lr_schedule=cosine")
        return options.learning_rate
    total = options.epochs * steps_per_epoch
    if options.warmup_steps >= total:
        raise RecipeError(f"--warmup_steps={options.warmup_steps} leaves nothing to decay: the run has {total} steps")
    log.info("Learning rate: %d warm-up steps to %g, cosine decay to 0 at step %d", options.warmup_steps,
                 options.learning_rate, total)
    if not options.warmup_steps:
        return keras.optimizers.schedules.CosineDecay(options.learning_rate, total)
    return keras.optimizers.schedules.CosineDecay(0.0, total - options.warmup_steps,
                                                  warmup_target=options.learning_rate,
                                                  warmup_steps=options.warmup_steps)


def optimizer(options, steps_per_epoch):
    """The optimizer `options` name (create it inside the strategy's scope)."""
    rate = learning_rate(options, steps_per_epoch)
    clip = {"clipnorm": options.clipnorm} if options.clipnorm else {}
    if options.optimizer == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, **clip)
    if options.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(rate, momentum=0.9, **clip)
    return keras.optimizers.Adam(rate, **clip)


def compile_model(model, loss, options, steps_per_epoch, **kwargs):
    """`model.compile` with the options' optimizer and `jit_compile`, then builds the model's optimizer.

    The optimizer's variables must exist before `fit`: BackupAndRestore
    restores into them (and with mixed precision `model.optimizer` is Keras's
    loss-scale wrapper, with variables of its own). Call it in the
    strategy's scope, on a model that has been called once.
    """
    model.compile(optimizer=optimizer(options, steps_per_epoch), loss=loss, jit_compile=options.jit_compile,
                  **kwargs)
    model.optimizer.build(model.trainable_variables)


class BackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's callback, made to go on where its checkpoint stands, mid-epoch too.

    Keras 3.15's resumes at the start of the epoch its checkpoint was written
    in (the batches done before the stop run again, and the run ends past its
    learning-rate schedule), and, counting epochs from 0 in every `fit`, records
    epoch 0 in a resumed run's mid-epoch checkpoints. This one records the
    epoch `fit` is in and the batches done in it (`resume_point` reads them),
    checkpoints at each epoch's end, after validation, instead of at its last
    batch, and counts the `skipped` batches of the first epoch: those a
    resumed `fit` no longer sees because they were done before the stop.
    """

    def __init__(self, backup_dir, save_freq="epoch", skipped=0, **kwargs):
        super().__init__(backup_dir, save_freq=save_freq, **kwargs)
        self.skipped = skipped

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._last_batch_seen = self.skipped - 1

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        last = batch + 1 == self.params.get("steps")  # the epoch's end checkpoints it, after validation
        if self._should_save_on_batch(batch + self.skipped) and not last:
            self._save_model()

    def on_epoch_end(self, epoch, logs=None):
        # Batch -1: no batch of the next epoch is done.
        self._current_epoch, self._last_batch_seen, self.skipped = epoch + 1, -1, 0
        self._save_model()
        self._last_batch_seen = 0


def resume_point(backup_dir):
    """(epoch, batches of it done): where the checkpoint in `backup_dir` stands; epochs count from 0."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0, 0
    with open(path, encoding="utf-8") as f:
        metadata = json.load(f)
    return metadata["epoch"], metadata["batch"] + 1


class StopAtEpochEnd(keras.callbacks.Callback):
    """Ends `fit` after one epoch (the rest of an interrupted one), its progress bar still counting the run's."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


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


class BestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the lowest validation loss in `folder` (its loss in best.json).

    The record lives in the run folder, so a resumed run compares with the
    epochs before the stop.
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = folder
        self.record = os.path.join(folder, "best.json")
        self.weights = os.path.join(folder, "best.weights.h5")

    def best(self):
        """{"epoch", "val_loss"} of the best epoch so far, or None."""
        if not os.path.exists(self.record):
            return None
        with open(self.record, encoding="utf-8") as f:
            return json.load(f)

    def on_epoch_end(self, epoch, logs=None):
        loss, best = float(logs["val_loss"]), self.best()
        if best is not None and not loss < best["val_loss"]:
            return
        os.makedirs(self.folder, exist_ok=True)
        temporary = self.weights + ".tmp.weights.h5"  # Keras wants the suffix; the rename makes the file whole
        self.model.save_weights(temporary, overwrite=True)
        os.replace(temporary, self.weights)
        write_json(self.record, {"epoch": epoch + 1, "val_loss": loss})


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


def fit(model, train_ds, validation_ds, options, steps_per_epoch, strategy, callbacks=()):
    """`model.fit` with checkpoints (resumable) and TensorBoard logs; with `average_epochs`, averages the weights.

    The model and its optimizer must be built: BackupAndRestore restores into
    existing variables. A checkpoint is written at each epoch's end and, with
    `checkpoint_steps`, every that many steps; it holds the weights, the
    optimizer's state (its step counter too), the epoch and the batches done
    in it. A resumed run goes on after the last of those batches: one `fit`
    for the rest of the interrupted epoch, then one for the epochs after it.
    (The data restart from their first pass: a shuffled set's rest of the
    epoch is drawn from its first order, not from the interrupted epoch's.)

    The datasets yield global batches; Keras hands them to the strategy's
    `experimental_distribute_dataset`, which splits each batch across the
    replicas (and, on a cluster, the workers). Workers other than the chief
    write their checkpoints and logs to a temporary folder, as Keras's
    multi-worker guide asks, and restore from the chief's.

    With `average_epochs` = N > 1 the weights at each epoch's end are also
    saved to `<model_dir>/epoch_weights/` (the last N kept), and after the
    last epoch the model's weights become the mean of those N: evaluation,
    the .keras file and the export get the average; the checkpoint keeps
    the last weights, so a resumed run trains on from them.

    With `keep_best`, the weights at the end of the epoch with the lowest
    validation loss are kept in `<model_dir>/best_epoch/` and the model takes
    them after the last epoch (early stopping's choice, without stopping).

    `steps_per_epoch` is the run's (`options.steps_per_epoch`, or one pass
    over `train_ds`): Keras's progress bar shows it. `callbacks` go to
    `model.fit` after the run's own.
    """
    if options.steps_per_epoch:
        train_ds = train_ds.repeat()
    else:  # a pipeline that filters or buckets does not know its length: the progress bar would say "Unknown"
        train_ds = train_ds.apply(tf.data.experimental.assert_cardinality(steps_per_epoch))
    data_options = tf.data.Options()
    # The datasets are built in memory on every worker: each takes its part of each batch.
    data_options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train_ds, validation_ds = train_ds.with_options(data_options), validation_ds.with_options(data_options)
    backup_dir, log_dir = checkpoint_dir(options), os.path.join(options.model_dir, "logs")
    worker_dir = None
    if not distribute.is_chief(strategy):
        worker_dir = tempfile.mkdtemp(prefix="zoo-worker-")
        if os.path.isdir(backup_dir):
            shutil.copytree(backup_dir, os.path.join(worker_dir, "checkpoints"))
        backup_dir, log_dir = os.path.join(worker_dir, "checkpoints"), os.path.join(worker_dir, "logs")
    epoch, done = resume_point(backup_dir) if options.resume else (0, 0)
    if not (0 < done < steps_per_epoch and epoch < options.epochs):
        done = 0
    callbacks = [
        BackupAndRestore(backup_dir, save_freq=options.checkpoint_steps or "epoch", skipped=done,
                         double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.TensorBoard(log_dir),
        *callbacks,
    ]
    epochs_dir = os.path.join(worker_dir or options.model_dir, EPOCH_WEIGHTS)
    if options.average_epochs > 1:
        callbacks.append(EpochWeights(epochs_dir, options.average_epochs))
    best_epoch = BestEpoch(os.path.join(worker_dir or options.model_dir, BEST_EPOCH))
    if options.keep_best:
        callbacks.append(best_epoch)
    try:
        if done:
            log.info("Resuming epoch %d after its batch %d of %d", epoch + 1, done, steps_per_epoch)
            model.fit(train_ds.skip(done), epochs=options.epochs,
                      steps_per_epoch=steps_per_epoch - done if options.steps_per_epoch else None,
                      validation_data=validation_ds, callbacks=[*callbacks, StopAtEpochEnd()])
        history = model.fit(train_ds, epochs=options.epochs, steps_per_epoch=options.steps_per_epoch or None,
                            validation_data=validation_ds, callbacks=callbacks)
        if options.average_epochs > 1:
            paths = epoch_weight_files(epochs_dir)
            log.info("Averaging the weights of %d epochs: %s", len(paths), [os.path.basename(p) for p in paths])
            average_weights(model, paths)
        if options.keep_best:
            log.info("Taking the weights of epoch %(epoch)d, validation loss %(val_loss).4f", best_epoch.best())
            model.load_weights(best_epoch.weights)
    finally:
        if worker_dir:
            shutil.rmtree(worker_dir, ignore_errors=True)
    log.info("Optimizer steps: %d, weights fingerprint: %s", int(model.optimizer.iterations.numpy()),
                 weights_fingerprint(model))
    return history


def weights_fingerprint(model):
    """SHA-256 of the model's weights: equal on every worker of a run that stayed in sync."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()
