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

from absl import flags, logging

import numpy as np

from zoo import data, export, text, training
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
flags.DEFINE_float("validation_fraction", 0.1, "Share of the training documents held out (seeded) to validate on "
                   "each epoch; the test split is read once, at the end.", lower_bound=0.01, upper_bound=0.5)
flags.DEFINE_integer("word2vec_epochs", 0, "Initialise the word embeddings with word2vec (skip-gram, gensim) "
                     "learnt for this many epochs on the training documents, as the paper does; 0 = random.",
                     lower_bound=0)
# The paper's optimizer: SGD with momentum 0.9, batch 64.
training.define_run_flags("runs/han", "savedmodels/han", optimizer="sgd", learning_rate=0.01, batch_size=64)


def tokenizer_for(train):
    """The run's tokenizer: its vocabulary built from the training split, or the saved one when resuming."""

    def build():
        logging.info("Building a vocabulary of at most %d words from %d documents", FLAGS.vocabulary_size,
                     len(train))
        return text.build_vocabulary(train.texts, FLAGS.vocabulary_size)

    return training.run_tokenizer(text.DocumentTokenizer, build, max_sentences=FLAGS.max_sentences,
                                  max_words=FLAGS.max_words)


def train_and_export():
    backup_dir = training.prepare_run()
    train, test = data.load_documents(FLAGS.dataset, FLAGS.data_dir, FLAGS.download)
    logging.info("%s: %d training and %d test documents, classes %s",
                 FLAGS.dataset, len(train), len(test), train.class_names)

    train, valid = data.hold_out(train, FLAGS.validation_fraction, FLAGS.seed)
    tokenizer = tokenizer_for(train)
    train_ds = data.document_dataset(train, tokenizer, FLAGS.batch_size, shuffle=True, seed=FLAGS.seed)
    valid_ds = data.document_dataset(valid, tokenizer, FLAGS.batch_size)
    test_ds = data.document_dataset(test, tokenizer, FLAGS.batch_size)

    with training.strategy().scope():
        model = HierarchicalAttentionNetwork(
            tokenizer.vocabulary_size, len(train.class_names), embedding_dim=FLAGS.embedding_dim,
            gru_units=FLAGS.gru_units, attention_units=FLAGS.attention_units, dropout=FLAGS.dropout)
        model(model.example_input())
        if FLAGS.word2vec_epochs and not FLAGS.resume:  # a resumed run restores its embeddings
            vectors, found = text.train_word_vectors(train.texts, tokenizer.vocabulary, FLAGS.embedding_dim,
                                                     FLAGS.word2vec_epochs, seed=FLAGS.seed)
            embeddings = model.embedding.embeddings
            embeddings.assign(np.where(found[:, None], vectors, embeddings.numpy()))
            logging.info("word2vec: %d of %d vocabulary words initialised", found.sum(), len(found))
        training.compile_model(model, "sparse_categorical_crossentropy", train_ds, metrics=["accuracy"])

    training.fit(model, train_ds, valid_ds, backup_dir)
    loss, accuracy = model.evaluate(test_ds, return_dict=False)
    print(f"test accuracy: {accuracy:.4f}  test loss: {loss:.4f}  ({len(test)} documents)")
    if not training.is_chief():
        return

    model.save(os.path.join(FLAGS.model_dir, "han.keras"))
    path = export.export_han(model, tokenizer, train.class_names, FLAGS.export_dir, tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "test_accuracy": accuracy, "test_loss": loss,
                   "test_documents": len(test), "export": path}, f, indent=2)
    print(f"exported: {path}")


if __name__ == "__main__":
    training.main("train_han", train_and_export)
