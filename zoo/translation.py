"""The translation recipe every translation model shares: data, vocabulary, training, BLEU, export.

`recipes/train_sutskever.py`, `train_cho.py` and `train_gnmt.py` build their
model; `TranslationRecipe` does the rest, run by `zoo.training.train`:

1. read a parallel set (`zoo.data.parallel`), learn one SentencePiece model
   from both sides of the training split (GNMT shares it; the others do
   not mind), or read it back when resuming (or from `init_from`'s export);
2. train with teacher forcing and the cross-entropy of labels smoothed by
   `label_smoothing`; padding is not a target;
3. choose the beam size, α and β by BLEU on the validation split (never on
   test) when `tune_*` list more than one choice; with `average_epochs`, also
   report the validation BLEU of the last epoch's own weights beside the
   average's (what the averaging gained);
4. report the test split's token perplexity, corpus BLEU (sacrebleu,
   its default 13a tokenisation, on detokenised output against the raw
   references) and chrF of the beam search that the export serves;
5. export the SavedModel (and .tflite) with `zoo.export.export_translation`.

The evaluation steps are plain functions: `perplexity`, `translate_all`,
`decoding_grid`, `validation_bleu`, `choose_decoding`.
"""

import dataclasses
import inspect
import itertools
import logging
import math
import os

import keras
import sacrebleu
import tensorflow as tf

from zoo import export, text, training
from zoo.data import parallel
from zoo.losses import LabelSmoothedCrossentropy
from zoo.text.reserved import PAD_ID


log = logging.getLogger(__name__)


def _export_default(argument):
    return inspect.signature(export.export_translation).parameters[argument].default


@dataclasses.dataclass
class TranslationSettings:
    """What a translation run reads, learns and decodes, beside its model and `RunOptions`.

    `recipes/translation_flags.py` defines a flag of each name, its default this one.
    """

    dataset: str = "demo"
    data_dir: str = "data/translation_demo"
    download: bool = False
    source_language: str = "en"
    target_language: str = "de"
    # SentencePiece pieces, the 4 reserved and 256 byte pieces included; None: init_from's export's
    vocabulary_size: int | None = 8000
    subword_model: str = "unigram"
    max_length: int = 64  # pieces kept per source and produced per translation
    beam_size: int = _export_default("beam_size")
    alpha: float = _export_default("alpha")
    beta: float = _export_default("beta")
    eval_sentences: int = 0  # test sentences to translate for BLEU; 0 = all
    label_smoothing: float = 0.0
    tune_beam_sizes: tuple = ()  # beam sizes to try on the validation split (default: beam_size)
    tune_alphas: tuple = ()
    tune_betas: tuple = ()
    tune_sentences: int = 500  # validation sentences the tuning translates; 0 = all


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


def decoding_grid(beam_sizes, alphas, betas):
    """(beam size, α, β) triples to try: every combination of the three lists.

    Raises `RecipeError` where a beam size is outside 1..MAX_BEAM_SIZE or α or β is negative.
    """
    beams, alphas, betas = list(beam_sizes), list(alphas), list(betas)
    if not all(1 <= b <= export.MAX_BEAM_SIZE for b in beams) or min(alphas + betas) < 0:
        raise training.RecipeError(f"--tune_*: beam sizes must be in 1..{export.MAX_BEAM_SIZE}, α and β >= 0")
    return list(itertools.product(beams, alphas, betas))


def validation_bleu(search, sources, references, batch_size, beam_size, alpha, beta):
    """BLEU of a `beam_search` signature's best hypotheses for `sources` against `references`."""
    hypotheses = []
    for start in range(0, len(sources), batch_size):
        batch = sources[start: start + batch_size]
        out = search(text=tf.constant(batch), beam_size=tf.constant([beam_size] * len(batch)),
                     alpha=tf.constant([alpha] * len(batch)), beta=tf.constant([beta] * len(batch)))
        hypotheses.extend(t.decode("utf-8") for t in out["translations"][:, 0].numpy())
    return sacrebleu.corpus_bleu(hypotheses, [references]).score


def choose_decoding(search, sources, references, grid, batch_size):
    """The (beam size, α, β) of `grid` with the best BLEU on `sources`/`references`, and each one's BLEU.

    `search` is a `beam_search` signature (beam size, α and β are its inputs).
    """
    scores = {}
    for beam_size, alpha, beta in grid:
        scores[(beam_size, alpha, beta)] = validation_bleu(search, sources, references, batch_size, beam_size, alpha,
                                                           beta)
        print(f"validation BLEU {scores[(beam_size, alpha, beta)]:.2f}: beam {beam_size}, α {alpha}, β {beta}  "
              f"({len(sources)} sentences)")
    return max(grid, key=lambda choice: scores[choice]), scores


class TranslationRecipe(training.Recipe):
    """A translation run: `settings` (`TranslationSettings`) and `build_model(vocabulary_size)`, the model's."""

    tokenizer_class = text.SubwordTokenizer

    def __init__(self, name, build_model, settings):
        self.name, self._build_model, self.settings = name, build_model, settings
        self.vocabulary_size = settings.vocabulary_size

    def read_data(self):
        s = self.settings
        splits = parallel.read_parallel(s.dataset, s.data_dir, s.source_language, s.target_language, s.download)
        log.info("%s: %d / %d / %d sentence pairs", s.dataset, *map(len, splits))
        return splits

    def build_vocabulary(self, splits):
        s = self.settings
        log.info("Learning a %s SentencePiece model of %d pieces", s.subword_model, s.vocabulary_size)
        return text.build_subword_model(splits[0].sources + splits[0].targets, s.vocabulary_size, s.subword_model)

    def datasets(self, splits, tokenizer, replicas):
        self.test_ds = self._dataset(splits[2], tokenizer)
        return self._dataset(splits[0], tokenizer, shuffle=True), self._dataset(splits[1], tokenizer)

    def _dataset(self, part, tokenizer, shuffle=False):
        return parallel.translation_dataset(part, tokenizer, self.options.batch_size, self.settings.max_length,
                                            shuffle=shuffle, seed=self.options.seed)

    def build_model(self, tokenizer):
        return self._build_model(tokenizer.vocabulary_size)

    def loss(self):
        return LabelSmoothedCrossentropy(self.settings.label_smoothing, ignore_class=PAD_ID)

    def evaluate(self, model, splits, tokenizer):
        s, batch_size = self.settings, self.options.batch_size
        _, valid, test = splits
        test_perplexity = perplexity(model, self.test_ds)
        self.decoding = (s.beam_size, s.alpha, s.beta)
        grid = decoding_grid(s.tune_beam_sizes or [s.beam_size], s.tune_alphas or [s.alpha], s.tune_betas or [s.beta])
        tuned = (valid.sources[:s.tune_sentences or len(valid)], valid.targets[:s.tune_sentences or len(valid)])
        tuning = {}
        if len(grid) > 1:
            search = export.translation_functions(model, tokenizer, s.max_length, *self.decoding)["beam_search"]
            self.decoding, tuning = choose_decoding(search, *tuned, grid, batch_size)
            print("chosen on validation: beam {}, α {}, β {}".format(*self.decoding))
        signatures = export.translation_functions(model, tokenizer, s.max_length, *self.decoding)
        last_epoch_bleu = self.averaging_gain(model, tokenizer, tuned)
        if last_epoch_bleu is not None:
            chosen_bleu = tuning.get(self.decoding)
            if chosen_bleu is None:
                chosen_bleu = validation_bleu(signatures["beam_search"], *tuned, batch_size, *self.decoding)
            print(f"validation BLEU {chosen_bleu:.2f} with the mean of the last {self.options.average_epochs} "
                  f"epochs' weights, {last_epoch_bleu:.2f} with the last epoch's")
        count = s.eval_sentences or len(test)
        hypotheses = translate_all(signatures[export.SERVING_SIGNATURE], test.sources[:count], batch_size)
        bleu = sacrebleu.corpus_bleu(hypotheses, [test.targets[:count]])
        chrf = sacrebleu.corpus_chrf(hypotheses, [test.targets[:count]])
        exact = sum(h == r for h, r in zip(hypotheses, test.targets)) / count
        beam_size, alpha, beta = self.decoding
        print(f"test perplexity: {test_perplexity:.3f}  BLEU: {bleu.score:.2f}  chrF: {chrf.score:.2f}  "
              f"exact match: {exact:.3f}  ({count} sentences, beam {beam_size}, α {alpha}, β {beta})")
        print(f"sacrebleu: {bleu}")
        for source, hypothesis in list(zip(test.sources, hypotheses))[:3]:
            print(f"  {source}\n  → {hypothesis}")
        return {"dataset": s.dataset, "test_perplexity": test_perplexity, "test_bleu": bleu.score,
                "sacrebleu": str(bleu), "test_chrf": chrf.score, "test_exact_match": exact, "test_sentences": count,
                "beam_size": beam_size, "alpha": alpha, "beta": beta,
                "validation_bleu": [{"beam_size": b, "alpha": a, "beta": c, "bleu": score}
                                    for (b, a, c), score in tuning.items()],
                "validation_bleu_last_epoch_weights": last_epoch_bleu}

    def averaging_gain(self, model, tokenizer, tuned):
        """With average_epochs > 1: validation BLEU of the last epoch's own weights, to set beside the average's."""
        paths = training.epoch_weight_files(os.path.join(self.options.model_dir, training.EPOCH_WEIGHTS))
        if self.options.average_epochs == 1 or len(paths) < 2:
            return None
        last = export.portable_copy(model)
        last.load_weights(paths[-1])
        search = export.translation_functions(last, tokenizer, self.settings.max_length, *self.decoding)
        return validation_bleu(search["beam_search"], *tuned, self.options.batch_size, *self.decoding)

    def export(self, model, tokenizer):
        return export.export_translation(model, tokenizer, self.options.export_dir, self.settings.max_length,
                                         *self.decoding, tflite=self.options.tflite)
