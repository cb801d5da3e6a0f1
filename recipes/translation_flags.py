"""The flags of the translation recipes (Sutskever, Cho, GNMT), read into `zoo.translation.TranslationSettings`."""

import dataclasses

from absl import flags

import run_flags
from zoo import export, translation
from zoo.data import parallel
from zoo.models import EncoderDecoder
from zoo.text.subwords import MODEL_TYPES

FLAGS = flags.FLAGS
_DEFAULTS = translation.TranslationSettings()


def define_flags(name, output_width_flag="units", **paper_defaults):
    """The translation flags (defaults `TranslationSettings`'s), then the run flags with `paper_defaults`.

    `output_width_flag` names the recipe's flag for the width of the output
    layer's input, which `--share_embeddings` needs equal to `--embedding_dim`.
    """
    d = _DEFAULTS
    flags.DEFINE_enum("dataset", d.dataset, parallel.PARALLEL_SETS, "Parallel set to train on.")
    flags.DEFINE_string("data_dir", d.data_dir, "Folder holding the set's published files.")
    flags.DEFINE_bool("download", d.download, "Fetch missing files from their published URL into --data_dir.")
    flags.DEFINE_string("source_language", d.source_language, "Source language (file suffix, e.g. en).")
    flags.DEFINE_string("target_language", d.target_language, "Target language (file suffix, e.g. de).")
    flags.DEFINE_integer("vocabulary_size", d.vocabulary_size, "SentencePiece pieces (shared by source and target), "
                         "the 4 reserved and 256 byte pieces included.", lower_bound=261)
    flags.DEFINE_enum("subword_model", d.subword_model, MODEL_TYPES, "SentencePiece's segmentation model: unigram "
                      "(Kudo 2018) or bpe (Sennrich et al. 2016; segments differently on the device: needs "
                      "--notflite).")
    flags.DEFINE_integer("max_length", d.max_length, "Pieces kept per source and produced per translation.",
                         lower_bound=2)
    flags.DEFINE_integer("beam_size", d.beam_size, "Beam of the served translation and of the BLEU evaluation.",
                         lower_bound=1, upper_bound=export.MAX_BEAM_SIZE)
    flags.DEFINE_float("alpha", d.alpha, "GNMT length normalisation α.", lower_bound=0.0)
    flags.DEFINE_float("beta", d.beta, "GNMT coverage penalty β (models with attention).", lower_bound=0.0)
    flags.DEFINE_integer("eval_sentences", d.eval_sentences, "Test sentences to translate for BLEU; 0 = all.",
                         lower_bound=0)
    flags.DEFINE_float("label_smoothing", d.label_smoothing, "Label smoothing ε of the training loss (Szegedy et al. "
                       "2016).", lower_bound=0.0, upper_bound=0.9)
    flags.DEFINE_list("tune_beam_sizes", [], "Beam sizes to try on the validation split (default: --beam_size).")
    flags.DEFINE_list("tune_alphas", [], "Length normalisations α to try on the validation split (default: --alpha).")
    flags.DEFINE_list("tune_betas", [], "Coverage penalties β to try on the validation split (default: --beta).")
    flags.DEFINE_integer("tune_sentences", d.tune_sentences, "Validation sentences the tuning translates; 0 = all.",
                         lower_bound=0)
    flags.DEFINE_float("dropout", run_flags.constructor_default(EncoderDecoder, "dropout"), "Dropout on every "
                       "recurrent layer's input and the top decoder output, in training.", lower_bound=0.0,
                       upper_bound=0.9)
    flags.DEFINE_bool("share_embeddings", run_flags.constructor_default(EncoderDecoder, "share_embeddings"),
                      "One matrix for the source and target embeddings and the output layer (Press & Wolf 2017); "
                      "the output layer's input must be --embedding_dim wide.")
    run_flags.define_run_flags(name, **paper_defaults)
    flags.register_multi_flags_validator(
        ["subword_model", "tflite"], lambda f: f["subword_model"] != "bpe" or not f["tflite"],
        "--subword_model=bpe needs --notflite: the TFLite SentencePiece tokenizer segments as unigram")
    flags.register_multi_flags_validator(
        ["share_embeddings", output_width_flag, "embedding_dim"],
        lambda f: not f["share_embeddings"] or f[output_width_flag] == f["embedding_dim"],
        f"--share_embeddings needs --{output_width_flag} (the output layer's input) equal to --embedding_dim")
    for name in ("tune_beam_sizes", "tune_alphas", "tune_betas"):
        kind = int if name == "tune_beam_sizes" else float
        flags.register_validator(name, lambda values, kind=kind: _all_parse(values, kind),
                                 f"--{name}: a comma-separated list of {kind.__name__} values")


def _all_parse(values, kind):
    try:
        [kind(value) for value in values]
    except ValueError:
        return False
    return True


def settings():
    """The parsed translation flags as `TranslationSettings`."""
    values = {field.name: FLAGS[field.name].value for field in dataclasses.fields(translation.TranslationSettings)}
    values["tune_beam_sizes"] = [int(b) for b in FLAGS.tune_beam_sizes]
    values["tune_alphas"] = [float(a) for a in FLAGS.tune_alphas]
    values["tune_betas"] = [float(b) for b in FLAGS.tune_betas]
    values["vocabulary_size"] = run_flags.vocabulary_size()
    return translation.TranslationSettings(**values)


def recipe(name, build_model):
    """The translation recipe the parsed flags describe: `name` (e.g. "gnmt") names the run and the .keras file."""
    return translation.TranslationRecipe(name, build_model, settings())


def main(name, build_model):
    """The recipe's entry point."""
    run_flags.main(f"train_{name}", lambda: recipe(name, build_model))
