"""Trains a Hierarchical Attention Network, evaluates it and exports it for serving.

    python recipes/train_han.py --flagfile recipes/configs/han_demo.flags

Reads a document classification set from --data_dir (see zoo.data), builds the
vocabulary from the training split, trains with model.fit (progress bar,
TensorBoard logs and a checkpoint each epoch under --model_dir), reports test
accuracy and exports a SavedModel (and .tflite) to --export_dir/<version>/.
--resume continues from the last epoch checkpoint in --model_dir.
"""

import json
import os
import sys

from absl import app, flags, logging

import keras
import tensorflow as tf

from zoo import data, distribute, export, text
from zoo.models import HierarchicalAttentionNetwork

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "demo", data.DATASETS, "Data set to train on.")
flags.DEFINE_string("data_dir", "data/han_demo", "Folder holding the data set's published files.")
flags.DEFINE_bool("download", False, "Fetch a missing data set from its published URL into --data_dir.")
flags.DEFINE_integer("max_sentences", 30, "Sentences kept per document.", lower_bound=1)
flags.DEFINE_integer("max_words", 50, "Words kept per sentence.", lower_bound=1)
flags.DEFINE_integer("vocabulary_size", 50000, "Vocabulary cap, [PAD] and [UNK] included.", lower_bound=3)
flags.DEFINE_integer("embedding_dim", 200, "Word embedding size.", lower_bound=1)
flags.DEFINE_integer("gru_units", 50, "GRU units per direction.", lower_bound=1)
flags.DEFINE_integer("attention_units", 100, "Attention context vector size.", lower_bound=1)
flags.DEFINE_float("dropout", 0.0, "Dropout on sentence and document vectors.", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_enum("optimizer", "sgd", ["sgd", "adam"], "sgd is the paper's (momentum 0.9).")
flags.DEFINE_float("learning_rate", 0.01, "Learning rate.", lower_bound=0.0)
flags.DEFINE_integer("batch_size", 64, "Global batch size (split across replicas).", lower_bound=1)
flags.DEFINE_integer("epochs", 10, "Epochs to train (in all, counting resumed ones).", lower_bound=1)
flags.DEFINE_integer("steps_per_epoch", 0, "Steps per epoch; 0 = one pass over the training set.", lower_bound=0)
flags.DEFINE_string("model_dir", "runs/han", "Checkpoints, TensorBoard logs, vocabulary, final .keras model.")
flags.DEFINE_string("export_dir", "savedmodels/han", "TF Serving model base path; exports go to <dir>/<version>/.")
flags.DEFINE_bool("tflite", True, "Also convert the model to TFLite beside the export.")
flags.DEFINE_bool("resume", False, "Continue from the last checkpoint in --model_dir.")
flags.DEFINE_enum("strategy", "default", distribute.STRATEGIES, "tf.distribute strategy.")
flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
flags.DEFINE_integer("seed", 1, "Random seed.")


class RecipeError(Exception):
    """A problem with the run's set-up, reported as one line."""


def prepare_model_dir():
    """Returns the checkpoint folder; refuses to mix a fresh run with an old one."""
    backup_dir = os.path.join(FLAGS.model_dir, "checkpoints")
    has_checkpoint = os.path.isdir(backup_dir) and bool(os.listdir(backup_dir))
    if FLAGS.resume and not has_checkpoint:
        raise RecipeError(f"--resume: no checkpoint in {backup_dir}")
    if not FLAGS.resume and has_checkpoint:
        raise RecipeError(f"{backup_dir} holds a checkpoint of an earlier run; "
                          "pass --resume to continue it or choose another --model_dir")
    os.makedirs(FLAGS.model_dir, exist_ok=True)
    return backup_dir


def vocabulary_for(train):
    """The run's vocabulary: built from the training split, or the saved one when resuming."""
    path = os.path.join(FLAGS.model_dir, "vocab.txt")
    if FLAGS.resume:
        return text.read_vocabulary(path)
    logging.info("Building a vocabulary of at most %d words from %d documents", FLAGS.vocabulary_size, len(train))
    vocabulary = text.build_vocabulary(train.texts, FLAGS.vocabulary_size)
    text.write_vocabulary(vocabulary, path)
    return vocabulary


def train_and_export():
    export.check_writable(FLAGS.export_dir)
    backup_dir = prepare_model_dir()
    keras.utils.set_random_seed(FLAGS.seed)
    train, test = data.load_documents(FLAGS.dataset, FLAGS.data_dir, FLAGS.download)
    logging.info("%s: %d training and %d test documents, classes %s",
                 FLAGS.dataset, len(train), len(test), train.class_names)

    tokenizer = text.DocumentTokenizer(vocabulary_for(train), FLAGS.max_sentences, FLAGS.max_words)
    train_ds = data.document_dataset(train, tokenizer, FLAGS.batch_size, shuffle=True, seed=FLAGS.seed)
    test_ds = data.document_dataset(test, tokenizer, FLAGS.batch_size)
    steps_per_epoch = FLAGS.steps_per_epoch or None
    if steps_per_epoch:
        train_ds = train_ds.repeat()

    strategy = distribute.get_strategy(FLAGS.strategy, FLAGS.tpu)
    with strategy.scope():
        model = HierarchicalAttentionNetwork(
            tokenizer.vocabulary_size, len(train.class_names), embedding_dim=FLAGS.embedding_dim,
            gru_units=FLAGS.gru_units, attention_units=FLAGS.attention_units, dropout=FLAGS.dropout)
        optimizer = (keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9) if FLAGS.optimizer == "sgd"
                     else keras.optimizers.Adam(FLAGS.learning_rate))
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        # BackupAndRestore restores into existing variables: create the model's and the optimizer's.
        model(tf.ones((1, 1, 1), tf.int32))
        optimizer.build(model.trainable_variables)

    callbacks = [
        # Saves weights, optimizer state and the epoch each epoch; restores them on --resume.
        keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(FLAGS.model_dir, "logs")),
    ]
    model.fit(train_ds, epochs=FLAGS.epochs, steps_per_epoch=steps_per_epoch, validation_data=test_ds,
              callbacks=callbacks)
    loss, accuracy = model.evaluate(test_ds, return_dict=False)
    print(f"test accuracy: {accuracy:.4f}  test loss: {loss:.4f}  ({len(test)} documents)")

    model.save(os.path.join(FLAGS.model_dir, "han.keras"))
    path = export.export_han(model, tokenizer, train.class_names, FLAGS.export_dir, tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "test_accuracy": accuracy, "test_loss": loss,
                   "test_documents": len(test), "export": path}, f, indent=2)
    print(f"exported: {path}")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        train_and_export()
    except (RecipeError, data.DataError, PermissionError) as e:
        sys.exit(f"train_han: error: {e}")


if __name__ == "__main__":
    app.run(main)
