"""Trains a Graves 2013 character language model, reports test BPC, exports text generation.

    python recipes/train_graves_text.py --flagfile recipes/configs/graves_text_demo.flags

Reads a plain-text corpus from --data_dir (see zoo.data.text_corpus), builds the
character vocabulary from the training split, trains next-character prediction
on windows of --sequence_length with model.fit (progress bar, TensorBoard,
a checkpoint each epoch, --resume) — consecutive windows of --batch_size
parts of the stream with the LSTM states carried from window to window, as
Graves trained (--nocarry_states: independent shuffled windows from zero
states) — reports bits per character on the test
split read in order with the states carried (and with dynamic evaluation,
--dynamic_learning_rates, its rate chosen on the validation text), prints a sample and exports a SavedModel whose `generate` signature
takes a prime text, a length, a temperature and a seed.
"""

import math

from absl import flags, logging

import keras
import tensorflow as tf

import run_flags
from zoo import export, text, training
from zoo.data import text_corpus
from zoo.models import GravesTextModel
from zoo.models.graves import CarriedStateTrainer, ResetStates, stream_negative_log_likelihood

FLAGS = flags.FLAGS
flags.DEFINE_enum("corpus", "demo", text_corpus.CORPORA, "Corpus to train on.")
flags.DEFINE_string("data_dir", "data/graves_text_demo", "Folder holding the corpus's published files.")
flags.DEFINE_bool("download", False, "Fetch a missing corpus from its published URL into --data_dir.")
flags.DEFINE_integer("units", run_flags.constructor_default(GravesTextModel, "units"), "LSTM units per layer.",
                     lower_bound=1)
flags.DEFINE_integer("num_layers", run_flags.constructor_default(GravesTextModel, "num_layers"), "LSTM layers.",
                     lower_bound=1)
run_flags.define_update_dropout(GravesTextModel)
flags.DEFINE_integer("sequence_length", 100, "Characters per training window.", lower_bound=1)
flags.DEFINE_bool("carry_states", True, "Train and validate on the stream in order, each window starting from the "
                  "states the previous one ended in (truncated backpropagation through time, Graves §3); "
                  "otherwise on shuffled windows that start from zero states.")
flags.DEFINE_string("sample_prime", "The ", "Prime text of the sample printed after training.")
flags.DEFINE_list("dynamic_learning_rates", [], "Also report the test BPC with dynamic evaluation (Graves §3.1): a "
                  "gradient step of this size on each window after scoring it. Of several, the one with the lowest BPC "
                  "on the first --dynamic_tune_characters of the validation text.")
flags.register_validator("dynamic_learning_rates", lambda rates: all(is_positive_number(r) for r in rates),
                         "--dynamic_learning_rates: a comma-separated list of positive numbers")
flags.DEFINE_integer("dynamic_tune_characters", 100_000, "Validation characters that choose the dynamic evaluation's "
                     "learning rate (dynamic evaluation reads a window at a time).", lower_bound=2)
# Graves trained with RMSProp (momentum 0.9, learning rate 1e-4) and clipped derivatives. bfloat16 where the CPU
# has it: the same validation loss as float32 from the same weights (benchmarks/README.md, precision).
run_flags.define_run_flags("graves_text", optimizer="rmsprop", learning_rate=1e-4, batch_size=32, precision="auto")


def is_positive_number(text):
    try:
        return float(text) > 0
    except ValueError:
        return False


def dynamic_learning_rate(model, valid_ids, rates):
    """The rate of `rates` with the lowest dynamic-evaluation BPC on `valid_ids` (the first if only one), and each
    tried rate's BPC."""
    if len(rates) == 1:
        return rates[0], {}
    tried = {rate: stream_negative_log_likelihood(model, valid_ids, FLAGS.sequence_length, rate) / math.log(2)
             for rate in rates}
    for rate, bits in tried.items():
        print(f"validation bits per character with dynamic evaluation at learning rate {rate}: {bits:.4f} "
              f"(the first {len(valid_ids)} characters)")
    return min(tried, key=tried.get), tried


def windows_negative_log_likelihood(model, dataset):
    """Nats a character over `dataset`'s windows, each read from zero states."""

    @tf.function
    def window_totals(inputs, targets):
        logits = tf.cast(model(inputs), tf.float32)
        return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True))

    total, count = 0.0, 0
    for inputs, targets in dataset:  # one pass: the windows are read once
        total, count = total + float(window_totals(inputs, targets)), count + int(tf.size(targets))
    return total / count


class GravesTextRecipe(training.Recipe):
    name = "graves_text"
    tokenizer_class = text.CharacterTokenizer

    def read_data(self):
        return text_corpus.read_corpus(FLAGS.corpus, FLAGS.data_dir, FLAGS.download)

    def build_vocabulary(self, splits):
        return text.build_character_vocabulary(splits[0])

    def datasets(self, splits, tokenizer, replicas):
        logging.info("%s: %d / %d / %d characters, %d symbols", FLAGS.corpus, *map(len, splits),
                     tokenizer.vocabulary_size - 2)
        # The ids the server's tokenizer gives: training reads the text through the same graph ops.
        self.ids = [tokenizer.encode(split) for split in splits]
        if not FLAGS.carry_states:
            return (text_corpus.window_dataset(self.ids[0], FLAGS.sequence_length, FLAGS.batch_size, shuffle=True,
                                               seed=FLAGS.seed),
                    text_corpus.window_dataset(self.ids[1], FLAGS.sequence_length, FLAGS.batch_size))
        if FLAGS.batch_size % replicas:
            raise training.RecipeError(f"--carry_states: --batch_size={FLAGS.batch_size} must split evenly across "
                                       f"{replicas} replicas (each one carries the states of its rows)")
        return tuple(text_corpus.stream_dataset(split, FLAGS.sequence_length, FLAGS.batch_size)
                     for split in self.ids[:2])

    def build_model(self, tokenizer):
        return GravesTextModel(tokenizer.vocabulary_size, units=FLAGS.units, num_layers=FLAGS.num_layers,
                               update_dropout=FLAGS.update_dropout)

    def loss(self):
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def trainer(self, model, replicas):
        return CarriedStateTrainer(model, FLAGS.batch_size // replicas) if FLAGS.carry_states else model

    def callbacks(self):
        return [ResetStates()] if FLAGS.carry_states else []

    def evaluate(self, model, splits, tokenizer):
        test_ids = self.ids[2]
        test_windows = text_corpus.window_dataset(test_ids, FLAGS.sequence_length, FLAGS.batch_size)
        window_bits = windows_negative_log_likelihood(model, test_windows) / math.log(2)
        bits = stream_negative_log_likelihood(model, test_ids, FLAGS.sequence_length) / math.log(2)
        print(f"test bits per character: {bits:.4f} reading the test text in order, states carried "
              f"({len(splits[2])} characters; {window_bits:.4f} on windows that start from zero states)")
        dynamic = {}
        if FLAGS.dynamic_learning_rates:
            rate, tried = dynamic_learning_rate(model, self.ids[1][:FLAGS.dynamic_tune_characters],
                                                [float(r) for r in FLAGS.dynamic_learning_rates])
            bits_dynamic = stream_negative_log_likelihood(model, test_ids, FLAGS.sequence_length, rate) / math.log(2)
            print(f"test bits per character with dynamic evaluation: {bits_dynamic:.4f} (learning rate {rate})")
            dynamic = {"test_bits_per_character_dynamic": bits_dynamic, "dynamic_learning_rate": rate,
                       "validation_bits_per_character_dynamic": {str(r): b for r, b in tried.items()}}
        sample = model.generate(tokenizer(tf.constant([FLAGS.sample_prime])), 200, 1.0, (FLAGS.seed, 0))
        print("sample:", FLAGS.sample_prime + tokenizer.detokenize(sample)[0].numpy().decode("utf-8"))
        return {"corpus": FLAGS.corpus, "test_bits_per_character": bits, "test_bits_per_character_windows": window_bits,
                "test_characters": len(splits[2]), **dynamic}

    def export(self, model, tokenizer):
        return export.export_graves_text(model, tokenizer, FLAGS.export_dir, tflite=FLAGS.tflite)


if __name__ == "__main__":
    run_flags.main("train_graves_text", GravesTextRecipe)
