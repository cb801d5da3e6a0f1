"""The translation recipe every translation model shares: data, vocabulary, training, BLEU, export.

`recipes/train_sutskever.py`, `train_cho.py` and `train_gnmt.py` define
their model's flags and a `build_model(vocabulary_size)`, and hand it to
`main`; everything else is here, once:

1. read a parallel set (`zoo.data.parallel`), learn one SentencePiece model
   from both sides of the training split (GNMT shares it; the others do
   not mind), or read it back when resuming;
2. train with teacher forcing (`model.fit` via `zoo.training.fit`: progress
   bar, TensorBoard, checkpoints, --resume, --strategy, --lr_schedule,
   --average_epochs) with --dropout and the cross-entropy of labels
   smoothed by --label_smoothing; padding is not a target;
3. with --tune_beam_sizes / --tune_alphas / --tune_betas, choose the beam
   size, α and β by BLEU on the validation split (never on test); with
   --average_epochs, also report the validation BLEU of the last epoch's
   own weights beside the average's (what the averaging gained);
4. report the test split's token perplexity, corpus BLEU (sacrebleu,
   its default 13a tokenisation, on detokenised output against the raw
   references) and chrF of the beam search that the export serves;
5. export the SavedModel (and .tflite) with `zoo.export.export_translation`.
"""

import itertools
import json
import math
import os

from absl import flags, logging

import keras
import sacrebleu
import tensorflow as tf

from zoo import export, text, training
from zoo.data import parallel
from zoo.losses import LabelSmoothedCrossentropy
from zoo.text.reserved import PAD_ID
from zoo.text.subwords import MODEL_TYPES

FLAGS = flags.FLAGS


def define_flags(name, batch_size=64, learning_rate=0.001, epochs=10, output_width_flag="units"):
    """The translation flags, then the run flags with this model's defaults.

    `output_width_flag` names the recipe's flag for the width of the output
    layer's input, which `--share_embeddings` needs equal to `--embedding_dim`.
    """
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
    flags.DEFINE_float("dropout", 0.0, "Dropout on every recurrent layer's input and the top decoder output, in "
                       "training.", lower_bound=0.0, upper_bound=0.9)
    flags.DEFINE_bool("share_embeddings", False, "One matrix for the source and target embeddings and the output "
                      "layer (Press & Wolf 2017); the output layer's input must be --embedding_dim wide.")
    flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing ε of the training loss (Szegedy et al. 2016).",
                       lower_bound=0.0, upper_bound=0.9)
    flags.DEFINE_list("tune_beam_sizes", [], "Beam sizes to try on the validation split (default: --beam_size).")
    flags.DEFINE_list("tune_alphas", [], "Length normalisations α to try on the validation split (default: --alpha).")
    flags.DEFINE_list("tune_betas", [], "Coverage penalties β to try on the validation split (default: --beta).")
    flags.DEFINE_integer("tune_sentences", 500, "Validation sentences the tuning translates; 0 = all.", lower_bound=0)
    training.define_run_flags(f"runs/{name}", f"savedmodels/{name}", optimizer="adam", learning_rate=learning_rate,
                              batch_size=batch_size, epochs=epochs)
    flags.register_multi_flags_validator(
        ["subword_model", "tflite"], lambda f: f["subword_model"] != "bpe" or not f["tflite"],
        "--subword_model=bpe needs --notflite: the TFLite SentencePiece tokenizer segments as unigram")
    flags.register_multi_flags_validator(
        ["share_embeddings", output_width_flag, "embedding_dim"],
        lambda f: not f["share_embeddings"] or f[output_width_flag] == f["embedding_dim"],
        f"--share_embeddings needs --{output_width_flag} (the output layer's input) equal to --embedding_dim")


def tokenizer_for(train):
    """The run's SentencePiece model: learnt from both sides of the training split, or the saved one when resuming."""

    def build():
        logging.info("Learning a %s SentencePiece model of %d pieces", FLAGS.subword_model, FLAGS.vocabulary_size)
        return text.build_subword_model(train.sources + train.targets, FLAGS.vocabulary_size, FLAGS.subword_model)

    return training.run_tokenizer(text.SubwordTokenizer, build)


def perplexity(model, dataset):
    """exp(mean negative log-likelihood per target piece, `<eos>` included, padding not)."""

    @tf.function(reduce_retracing=True)  # bucketed batches: a trace for any length, not one a length
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


def decoding_grid():
    """(beam size, α, β) triples to try on the validation split: the --tune_* lists, the single flags elsewhere."""
    try:
        beams = [int(b) for b in FLAGS.tune_beam_sizes] or [FLAGS.beam_size]
        alphas = [float(a) for a in FLAGS.tune_alphas] or [FLAGS.alpha]
        betas = [float(b) for b in FLAGS.tune_betas] or [FLAGS.beta]
    except ValueError as e:
        raise training.RecipeError(f"--tune_beam_sizes/--tune_alphas/--tune_betas: {e}") from None
    if not all(1 <= b <= export.MAX_BEAM_SIZE for b in beams) or min(alphas + betas) < 0:
        raise training.RecipeError(f"--tune_*: beam sizes must be in 1..{export.MAX_BEAM_SIZE}, α and β >= 0")
    return list(itertools.product(beams, alphas, betas))


def validation_bleu(search, valid, batch_size, beam_size, alpha, beta):
    """BLEU on the first --tune_sentences pairs of `valid` of a `beam_search` signature's best hypotheses."""
    count = FLAGS.tune_sentences or len(valid)
    sources, references = valid.sources[:count], valid.targets[:count]
    hypotheses = []
    for start in range(0, len(sources), batch_size):
        batch = sources[start: start + batch_size]
        out = search(text=tf.constant(batch), beam_size=tf.constant([beam_size] * len(batch)),
                     alpha=tf.constant([alpha] * len(batch)), beta=tf.constant([beta] * len(batch)))
        hypotheses.extend(t.decode("utf-8") for t in out["translations"][:, 0].numpy())
    return sacrebleu.corpus_bleu(hypotheses, [references]).score


def choose_decoding(search, valid, batch_size):
    """The (beam size, α, β) of `decoding_grid()` with the best BLEU on `valid`, and each one's BLEU.

    `search` is a `beam_search` signature (beam size, α and β are its inputs);
    the first --tune_sentences pairs of `valid` are translated.
    """
    grid = decoding_grid()
    scores = {}
    for beam_size, alpha, beta in grid:
        scores[(beam_size, alpha, beta)] = validation_bleu(search, valid, batch_size, beam_size, alpha, beta)
        print(f"validation BLEU {scores[(beam_size, alpha, beta)]:.2f}: beam {beam_size}, α {alpha}, β {beta}  "
              f"({min(FLAGS.tune_sentences or len(valid), len(valid))} sentences)")
    return max(grid, key=lambda choice: scores[choice]), scores


def averaging_gain(model, tokenizer, valid, beam_size, alpha, beta):
    """With --average_epochs > 1: validation BLEU of the last epoch's own weights, to set beside the average's."""
    paths = training.epoch_weight_files(os.path.join(FLAGS.model_dir, training.EPOCH_WEIGHTS))
    if FLAGS.average_epochs == 1 or len(paths) < 2:
        return None
    last = export.portable_copy(model)
    last.load_weights(paths[-1])
    search = export.translation_functions(last, tokenizer, FLAGS.max_length, beam_size, alpha, beta)["beam_search"]
    return validation_bleu(search, valid, FLAGS.batch_size, beam_size, alpha, beta)


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
        training.compile_model(model, LabelSmoothedCrossentropy(FLAGS.label_smoothing, ignore_class=PAD_ID),
                               datasets[0])

    training.fit(model, datasets[0], datasets[1], backup_dir)
    # Evaluated in float32, as exported (the model may have trained in mixed precision).
    inference = export.portable_copy(model)
    test_perplexity = perplexity(inference, datasets[2])
    if not training.is_chief():
        return
    beam_size, alpha, beta = FLAGS.beam_size, FLAGS.alpha, FLAGS.beta
    signatures = export.translation_functions(inference, tokenizer, FLAGS.max_length, beam_size, alpha, beta)
    tuning = {}
    if len(decoding_grid()) > 1:
        (beam_size, alpha, beta), tuning = choose_decoding(signatures["beam_search"], valid, FLAGS.batch_size)
        print(f"chosen on validation: beam {beam_size}, α {alpha}, β {beta}")
        signatures = export.translation_functions(inference, tokenizer, FLAGS.max_length, beam_size, alpha, beta)
    chosen_bleu = tuning.get((beam_size, alpha, beta))
    last_epoch_bleu = averaging_gain(inference, tokenizer, valid, beam_size, alpha, beta)
    if last_epoch_bleu is not None:
        if chosen_bleu is None:
            chosen_bleu = validation_bleu(signatures["beam_search"], valid, FLAGS.batch_size, beam_size, alpha, beta)
        print(f"validation BLEU {chosen_bleu:.2f} with the mean of the last {FLAGS.average_epochs} epochs' weights, "
              f"{last_epoch_bleu:.2f} with the last epoch's")
    count = FLAGS.eval_sentences or len(test)
    hypotheses = translate_all(signatures[export.SERVING_SIGNATURE], test.sources[:count], FLAGS.batch_size)
    bleu = sacrebleu.corpus_bleu(hypotheses, [test.targets[:count]])
    chrf = sacrebleu.corpus_chrf(hypotheses, [test.targets[:count]])
    exact = sum(h == r for h, r in zip(hypotheses, test.targets)) / count
    print(f"test perplexity: {test_perplexity:.3f}  BLEU: {bleu.score:.2f}  chrF: {chrf.score:.2f}  "
          f"exact match: {exact:.3f}  ({count} sentences, beam {beam_size}, α {alpha}, β {beta})")
    print(f"sacrebleu: {bleu}")
    for source, hypothesis in list(zip(test.sources, hypotheses))[:3]:
        print(f"  {source}\n  → {hypothesis}")

    model.save(os.path.join(FLAGS.model_dir, f"{name}.keras"))
    path = export.export_translation(model, tokenizer, FLAGS.export_dir, FLAGS.max_length, beam_size, alpha, beta,
                                     tflite=FLAGS.tflite)
    with open(os.path.join(FLAGS.model_dir, "metrics.json"), "w") as f:
        json.dump({"dataset": FLAGS.dataset, "test_perplexity": test_perplexity, "test_bleu": bleu.score,
                   "sacrebleu": str(bleu), "test_chrf": chrf.score, "test_exact_match": exact, "test_sentences": count,
                   "beam_size": beam_size, "alpha": alpha, "beta": beta,
                   "validation_bleu": [{"beam_size": b, "alpha": a, "beta": c, "bleu": score}
                                       for (b, a, c), score in tuning.items()],
                   "validation_bleu_last_epoch_weights": last_epoch_bleu,
                   "export": path}, f, indent=2)
    print(f"exported: {path}")


def main(name, build_model):
    """The recipe's entry point: `name` (e.g. "gnmt") names the run and the export folder."""
    training.main(f"train_{name}", lambda: train_and_export(name, build_model))
