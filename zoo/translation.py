"""The translation recipe every translation model shares: data, vocabulary, training, BLEU, export.

`recipes/train_sutskever.py`, `train_cho.py` and `train_gnmt.py` define
their model's flags and a `build_model(vocabulary_size)`, and hand it to
`main`; everything else is here, once:

1. read a parallel set (`zoo.data.parallel`), learn one SentencePiece model
   from both sides of the training split (GNMT shares it; the others do
   not mind), or read it back when resuming;
2. train with teacher forcing (`model.fit` via `zoo.training.fit`: progress
   bar, TensorBoard, checkpoints, --resume, --strategy); padding is not a
   target (`ignore_class=PAD_ID`);
3. report the test split's token perplexity, corpus BLEU (sacrebleu,
   its default 13a tokenisation, on detokenised output against the raw
   references) and chrF of the beam search that the export serves;
4. export the SavedModel (and .tflite) with `zoo.export.export_translation`.
"""

import json
import math
import os

from absl import flags, logging

import keras
import sacrebleu
import tensorflow as tf

from zoo import export, text, training
from zoo.data import parallel
from zoo.text.reserved import PAD_ID
from zoo.text.subwords import MODEL_TYPES

FLAGS = flags.FLAGS


def define_flags(name, batch_size=64, learning_rate=0.001, epochs=10):
    """The translation flags, then the run flags with this model's defaults."""
    flags.DEFINE_enum("dataset", "demo", parallel.PARALLEL_SETS, "Parallel set to train on.")
    flags.DEFINE_string("data_dir", "data/translation_demo", "Folder holding the set's published files.")
    flags.DEFINE_bool("download", False, "Fetch missing files from their published URL into --data_dir.")
    flags.DEFINE_string("source_language", "en", "Source language (file suffix, e.g. en).")
    flags.DEFINE_string("target_language", "de", "Target language (file suffix, e.g. de).")
    flags.DEFINE_integer("vocabulary_size", 8000, "SentencePiece pieces (shared by source and target), the 4 "
                         "reserved and 256 byte pieces included.", lower_bound=261)
    flags.DEFINE_enum("subword_model", "unigram", MODEL_TYPES, "SentencePiece's segmentation model: unigram (Kudo "
                      "2018) or bpe (Sennrich et al. 2016; segments differently on the device: needs --notflite).")
    flags.DEFINE_integer("max_length", 64, "Pieces kept per source and produced per translation.", lower_bound=2)
    flags.DEFINE_integer("beam_size", 4, "Beam of the served translation and of the BLEU evaluation.", lower_bound=1,
                         upper_bound=export.MAX_BEAM_SIZE)
    flags.DEFINE_float("alpha", 0.6, "GNMT length normalisation α.", lower_bound=0.0)
    flags.DEFINE_float("beta", 0.2, "GNMT coverage penalty β (models with attention).", lower_bound=0.0)
    flags.DEFINE_integer("eval_sentences", 0, "Test sentences to translate for BLEU; 0 = all.", lower_bound=0)
    training.define_run_flags(f"runs/{name}", f"savedmodels/{name}", optimizer="adam", learning_rate=learning_rate,
                              batch_size=batch_size, epochs=epochs)
    flags.register_multi_flags_validator(
        ["subword_model", "tflite"], lambda f: f["subword_model"] != "bpe" or not f["tflite"],
        "--subword_model=bpe needs --notflite: the TFLite SentencePiece tokenizer segments as unigram")


def tokenizer_for(train):
    """The run's SentencePiece model: learnt from both sides of the training split, or the saved one when resuming."""

    def build():
        logging.info("Learning a %s SentencePiece model of %d pieces", FLAGS.subword_model, FLAGS.vocabulary_size)
        return text.build_subword_model(train.sources + train.targets, FLAGS.vocabulary_size, FLAGS.subword_model)

    return training.run_tokenizer(text.SubwordTokenizer, build)


def perplexity(model, dataset):
    """exp(mean negative log-likelihood per target piece, `<eos>` included, padding not)."""

    @tf.function
    def batch_totals(inputs, targets):
        losses = keras.losses.sparse_categorical_crossentropy(targets, model(inputs), from_logits=True)
        real = tf.cast(tf.not_equal(targets, PAD_ID), losses.dtype)
        return tf.reduce_sum(losses * real), tf.reduce_sum(real)

    total, count = 0.0, 0.0
    for inputs, targets in dataset:
        loss, pieces = batch_totals(inputs, targets)
        total, count = total + float(loss), count + float(pieces)
    return math.exp(total / count)


def translate_all(translate, sources, batch_size):
    """Translations of `sources` by a `translation_functions` signature, in batches."""
    out = []
    for start in range(0, len(sources), batch_size):
        out.extend(t.decode("utf-8") for t in translate(tf.constant(sources[start: start + batch_size]))
                   ["translation"].numpy())
    return out


def train_and_export(name, build_model):
    backup_dir = training.prepare_run()
    train, valid, test = parallel.read_parallel(FLAGS.dataset, FLAGS.data_dir, FLAGS.source_language,
                                                FLAGS.target_language, FLAGS.download)
    logging.info("%s: %d / %d / %d sentence pairs", FLAGS.dataset, len(train), len(valid), len(test))
    tokenizer = tokenizer_for(train)
    datasets = [parallel.translation_dataset(part, tokenizer, FLAGS.batch_size, FLAGS.max_length, shuffle=shuffle,
                                             seed=FLAGS.seed)
                for part, shuffle in ((train, True), (valid, False), (test, False))]

    with training.strategy().scope():
        model = build_model(tokenizer.vocabulary_size)
        model(model.example_input())
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD_ID)
        training.compile_model(model, loss)

    training.fit(model, datasets[0], datasets[1], backup_dir)
    # Evaluated in float32, as exported (the model may have trained in mixed precision).
    inference = export.portable_copy(model)
    test_perplexity = perplexity(inference, datasets[2])
    if not training.is_chief():
        return
    signatures = export.translation_functions(inference, tokenizer, FLAGS.max_length, FLAGS.beam_size, FLAGS.alpha,
                                              FLAGS.beta)
    count = FLAGS.eval_sentences or len(test)
    hypotheses = translate_all(signatures[export.SERVING_SIGNATURE], test.sources[:count], FLAGS.batch_size)
    bleu = sacrebleu.corpus_bleu(hypotheses, [test.targets[:count]])
    chrf = sacrebleu.corpus_chrf(hypotheses, [test.targets[:count]])
    exact = sum(h == r for h, r in zip(hypotheses, test.targets)) / count
    print(f"test perplexity: {test_perplexity:.3f}  BLEU: {bleu.score:.2f}  chrF: {chrf.score:.2f}  "
          f"exact match: {exact:.3f}  ({count} sentences, beam {FLAGS.beam_size})")
    print(f"sacrebleu: {bleu}")
    for source, hypothesis in list(zip(test.sources, hypotheses))[:3]:
        print(f"  {source}\n  → {hypothesis}")

    model.save(os.path.join(FLAGS.model_dir, f"{name}.keras"))
    path = export.export_translation(model, tokenizer, FLAGS.export_dir, FLAGS.max_length, FLAGS.beam_size,
                                     FLAGS.alpha, FLAGS.beta, tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "test_perplexity": test_perplexity, "test_bleu": bleu.score,
                   "sacrebleu": str(bleu), "test_chrf": chrf.score, "test_exact_match": exact, "test_sentences": count,
                   "beam_size": FLAGS.beam_size, "export": path}, f, indent=2)
    print(f"exported: {path}")


def main(name, build_model):
    """The recipe's entry point: `name` (e.g. "gnmt") names the run and the export folder."""
    training.main(f"train_{name}", lambda: train_and_export(name, build_model))
