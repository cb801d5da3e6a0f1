"""Trains a Hierarchical Attention Network, evaluates it and exports it for serving.

    python recipes/train_han.py --flagfile recipes/configs/han_demo.flags

Reads a document classification set from --data_dir (see zoo.data), builds the
vocabulary from the training split, trains with model.fit (progress bar,
TensorBoard logs and a checkpoint each epoch under --model_dir), reports test
accuracy and exports a SavedModel (and .tflite) to --export_dir/<version>/.
--resume continues from the last epoch checkpoint in --model_dir; --init_from
starts from an export's weights and vocabulary.
"""

from absl import flags, logging

import numpy as np

import run_flags
from zoo import data, export, text, training
from zoo.models import HierarchicalAttentionNetwork

FLAGS = flags.FLAGS
flags.DEFINE_enum("dataset", "demo", data.DATASETS, "Data set to train on.")
flags.DEFINE_string("data_dir", "data/han_demo", "Folder holding the data set's published files.")
flags.DEFINE_bool("download", False, "Fetch a missing data set from its published URL into --data_dir.")
flags.DEFINE_integer("max_sentences", run_flags.constructor_default(text.DocumentTokenizer, "max_sentences"),
                     "Sentences kept per document.", lower_bound=1)
flags.DEFINE_integer("max_words", run_flags.constructor_default(text.DocumentTokenizer, "max_words"),
                     "Words kept per sentence.", lower_bound=1)
flags.DEFINE_integer("vocabulary_size", 50000, "Vocabulary cap, [PAD] and [UNK] included.", lower_bound=3)
for _name, _help in (("embedding_dim", "Word embedding size."), ("gru_units", "GRU units per direction."),
                     ("attention_units", "Attention context vector size.")):
    flags.DEFINE_integer(_name, run_flags.constructor_default(HierarchicalAttentionNetwork, _name), _help,
                         lower_bound=1)
flags.DEFINE_float("dropout", run_flags.constructor_default(HierarchicalAttentionNetwork, "dropout"),
                   "Dropout on sentence and document vectors.", lower_bound=0.0, upper_bound=0.99)
flags.DEFINE_float("validation_fraction", 0.1, "Share of the training documents held out (seeded) to validate on "
                   "each epoch; the test split is read once, at the end.", lower_bound=0.01, upper_bound=0.5)
flags.DEFINE_integer("word2vec_epochs", 0, "Initialise the word embeddings with word2vec (skip-gram, gensim) "
                     "learnt for this many epochs on the training documents, as the paper does; 0 = random.",
                     lower_bound=0)
# The paper's optimizer: SGD with momentum 0.9, batch 64. float32: its small GRUs train no faster in bfloat16
# (benchmarks/README.md, precision).
run_flags.define_run_flags("han", optimizer="sgd", learning_rate=0.01, batch_size=64)


class HanRecipe(training.Recipe):
    name = "han"
    tokenizer_class = text.DocumentTokenizer
    metrics = ("accuracy",)

    def __init__(self):
        self.tokenizer_options = {"max_sentences": FLAGS.max_sentences, "max_words": FLAGS.max_words}
        self.vocabulary_size = run_flags.vocabulary_size()

    def read_data(self):
        train, test = data.load_documents(FLAGS.dataset, FLAGS.data_dir, FLAGS.download)
        logging.info("%s: %d training and %d test documents, classes %s",
                     FLAGS.dataset, len(train), len(test), train.class_names)
        train, valid = data.hold_out(train, FLAGS.validation_fraction, FLAGS.seed)
        self.class_names = train.class_names
        return train, valid, test

    def build_vocabulary(self, splits):
        train = splits[0]
        logging.info("Building a vocabulary of at most %d words from %d documents", FLAGS.vocabulary_size,
                     len(train))
        return text.build_vocabulary(train.texts, FLAGS.vocabulary_size)

    def datasets(self, splits, tokenizer, replicas):
        train, valid, _ = splits
        return (data.document_dataset(train, tokenizer, FLAGS.batch_size, shuffle=True, seed=FLAGS.seed),
                data.document_dataset(valid, tokenizer, FLAGS.batch_size))

    def build_model(self, tokenizer):
        return HierarchicalAttentionNetwork(
            tokenizer.vocabulary_size, len(self.class_names), embedding_dim=FLAGS.embedding_dim,
            gru_units=FLAGS.gru_units, attention_units=FLAGS.attention_units, dropout=FLAGS.dropout)

    def loss(self):
        return "sparse_categorical_crossentropy"

    def initialise(self, model, splits, tokenizer):
        if not FLAGS.word2vec_epochs:
            return
        vectors, found = text.train_word_vectors(splits[0].texts, tokenizer.vocabulary, FLAGS.embedding_dim,
                                                 FLAGS.word2vec_epochs, seed=FLAGS.seed)
        embeddings = model.embedding.embeddings
        embeddings.assign(np.where(found[:, None], vectors, embeddings.numpy()))
        logging.info("word2vec: %d of %d vocabulary words initialised", found.sum(), len(found))

    def evaluate(self, model, splits, tokenizer):
        test = splits[2]
        model.compile(loss=self.loss(), metrics=list(self.metrics))
        loss, accuracy = model.evaluate(data.document_dataset(test, tokenizer, FLAGS.batch_size), return_dict=False)
        print(f"test accuracy: {accuracy:.4f}  test loss: {loss:.4f}  ({len(test)} documents)")
        return {"dataset": FLAGS.dataset, "test_accuracy": accuracy, "test_loss": loss, "test_documents": len(test)}

    def export(self, model, tokenizer):
        return export.export_han(model, tokenizer, self.class_names, FLAGS.export_dir, tflite=FLAGS.tflite)


if __name__ == "__main__":
    run_flags.main("train_han", HanRecipe)
