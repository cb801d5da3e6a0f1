"""Translation exports (Sutskever, Cho, GNMT): text in, text out, every decoder in the graph.

The signatures drive the models' `encode` / `decode_step` (the
`EncoderDecoder` contract) through `zoo.decoding`, and score given pairs
with the teacher-forced `call`; the SentencePiece tokeniser runs in the
graph (tensorflow-text kernels: load the SavedModel with
`import tensorflow_text`, as TF Serving links them in).
"""

import json

import tensorflow as tf

from zoo import decoding
from zoo.data import parallel
from zoo.export.core import (SERVING_SIGNATURE, checked, checked_non_negative, checked_range, checked_shapes,
                             portable_copy, row_status, same_batch, served_rows, write_export)
from zoo.export.tflite import freeze_to_tflite

# A cap, so that one request cannot hold a server for long.
MAX_BEAM_SIZE = 16
# The outputs of `translation.tflite`, in order (converted tensors lose the names).
TRANSLATION_TFLITE_OUTPUTS = ("translation", "score", "ids")
_TEXT = tf.TensorSpec([None], tf.string, name="text")


EMPTY_SOURCE = "empty source text (no piece)"


def _source_ids(tokenizer, text, max_length):
    """Raw text `[batch]` → (source piece ids `[batch, <= max_length]`, padded; valid `[batch]`).

    A source longer than `max_length` pieces is cut to its first
    `max_length`; an empty one (no piece) is not valid, and all padding,
    which the models read as nothing (masked), so the rows beside it are
    translated as they would be alone.
    """
    pieces = tokenizer(checked_shapes((text,), ([None],))[0])
    ids = pieces[:, :max_length].to_tensor(tokenizer.pad_id)
    # Keep a time axis for an empty batch, or a batch of empty sources.
    ids = tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]], constant_values=tokenizer.pad_id)
    return ids, pieces.row_lengths() > 0


def _never(model, tokenizer):
    """-1e9 for padding and START, 0 elsewhere `[vocabulary]`: added to logits, it rules them out."""
    return tf.reduce_sum(tf.one_hot([tokenizer.pad_id, tokenizer.start_id], model.vocabulary_size, on_value=-1e9),
                         axis=0)


def translation_step(model, tokenizer):
    """The model's `decode_step` with padding and START ruled out, renormalised.

    Training never targets them, so they are improbable but not impossible;
    a decoder that emitted one would write nothing or start over.
    """
    never = _never(model, tokenizer)

    def step(tokens, state):
        log_probs, state, attention = model.decode_step(tokens, state)
        return tf.nn.log_softmax(log_probs + never), state, attention

    return step


def _forced(model, tokenizer, source, target, max_length, signature, return_attention=False):
    """Teacher-forced decoding of given pairs: what `score` and `alignment` report.

    Returns the padded source ids `[batch, S]`, the target pieces + `[END]`
    `[batch, T]` (padded), each one's log-probability `[batch, T]` (0 on
    padding), under the same step distribution as decoding (`translation_step`),
    the attention `[batch, T, S]` (with `return_attention`, else None) and the
    rows' status (`row_status`): a row is not valid when its source is empty
    or its target has more than `max_length` pieces (cut to `max_length` to
    run); every output of such a row is 0 or "".
    """
    source, target = checked_shapes((source, target), ([None], [None]))
    source = checked(tf.equal(tf.shape(source)[0], tf.shape(target)[0]),
                     [f"{signature}: source and target must have the same batch size, got", tf.shape(source)[0],
                      "and", tf.shape(target)[0]], source)
    source_ids, has_source = _source_ids(tokenizer, source, max_length)
    pieces = tokenizer(target)
    fits = pieces.row_lengths() <= max_length
    status = row_status(has_source & fits, tf.where(has_source, f"target longer than max_length = {max_length} pieces",
                                                    EMPTY_SOURCE))
    decoder_inputs, targets = (ids.to_tensor(tokenizer.pad_id)
                               for ids in parallel.decoder_sequences(tokenizer, pieces[:, :max_length]))
    # Keras's RNNs cannot run a batch of 0 rows: an empty batch runs one row of [START] and keeps none of it.
    rows = tf.shape(targets)[0]

    def filled(ids):
        shape = tf.shape(ids)
        return tf.pad(ids, [[0, tf.maximum(1 - shape[0], 0)], [0, tf.maximum(1 - shape[1], 0)]],
                      constant_values=tokenizer.start_id)

    out = model((filled(source_ids), filled(decoder_inputs)), return_attention=return_attention)
    logits, attention = out if return_attention else (out, None)
    steps = tf.shape(targets)[1]
    valid = status["valid"][:, None]
    targets = tf.where(valid, targets, tokenizer.pad_id)
    source_ids = tf.where(valid, source_ids, tokenizer.pad_id)
    if attention is not None:
        attention = tf.where(valid[:, :, None], attention[:rows, :steps], 0.0)
    log_probs = tf.gather(tf.nn.log_softmax(tf.cast(logits[:rows, :steps], tf.float32) + _never(model, tokenizer)),
                          targets, batch_dims=2)
    return source_ids, targets, tf.where(targets != tokenizer.pad_id, log_probs, 0.0), attention, status


def _padded_pieces(tokenizer, ids):
    """Ids `[batch, T]` → their pieces as strings, "" for padding."""
    return tf.where(ids != tokenizer.pad_id, tokenizer.pieces(ids), "")


def translation_functions(model, tokenizer, max_length, beam_size=4, alpha=0.6, beta=0.2):
    """The serving signatures of a translation model.

    - `serving_default`: `text` → `translation`, `score` (beam search with
      the given `beam_size`, `alpha`, `beta`), and `attention`
      `[batch, target, source]` for a model with attention;
    - `beam_search`: `text`, `beam_size` (1 to MAX_BEAM_SIZE), `alpha`, `beta`
      (finite, >= 0), each `[batch]` for TF Serving's row format and the
      same in every row → the n-best `translations` `[batch, beam]`,
      `scores`, (`attention` `[batch, beam, target, source]`); empty slots
      (fewer hypotheses than beams) are "" with score -inf;
    - `greedy`: `text` → `translation`, `score` (the log-probability);
    - `score`: `source`, `target` → the model's log-probability of that
      translation (forced decoding): `score` `[batch]` (the total, `[END]`
      included), `piece_scores` `[batch, T]` and `pieces` `[batch, T]` (the
      target's pieces, then "[END]"; 0 and "" as padding), `lengths`
      `[batch]`. An empty target is scored as `[END]` alone; a row whose
      target has more than `max_length` pieces is not valid (below);
    - `alignment` (models with attention): `source`, `target` → `attention`
      `[batch, T, S]`, where row t is the attention of the step that predicted
      target piece t (0 on padding), `source_pieces` `[batch, S]`,
      `target_pieces` `[batch, T]` (as `score`'s `pieces`).

    Every signature also returns `valid` bool `[batch]` and `error` string
    `[batch]` (`row_status`): a row whose source has no piece (empty, white
    space) is not valid, with `error` "empty source text (no piece)", and
    gets "" translations, score -inf, zero attention (`score`/`alignment`:
    zeros and ""); the other rows are what they would be alone. Arguments of
    the whole request (beam size, α, β, batch sizes that differ) fail it
    with `INVALID_ARGUMENT`. Sources are cut to `max_length` pieces;
    translations end at `<eos>` or after `max_length` pieces. Texts are
    `prepare_text`'s, SentencePiece-normalised (`zoo.text.SubwordTokenizer`).
    """
    step = translation_step(model, tokenizer)
    beam_size_default, alpha_default, beta_default = beam_size, float(alpha), float(beta)

    def search(text, size, a, b):
        source, valid = _source_ids(tokenizer, text, max_length)
        out = decoding.beam_search(step, model.encode(source), tokenizer.start_id, tokenizer.end_id, max_length, size,
                                   a, b, source_mask=model.padding_mask(source))
        return out, row_status(valid, EMPTY_SOURCE)

    no_translation = {"translation": "", "translations": "", "score": -float("inf"), "scores": -float("inf")}

    @tf.function(input_signature=[_TEXT])
    def translate(text):
        out, status = search(text, beam_size, alpha, beta)
        result = {"translation": tokenizer.detokenize(out["ids"][:, 0]), "score": out["scores"][:, 0]}
        if "attention" in out:
            result["attention"] = out["attention"][:, 0]
        return served_rows(status, result, no_translation)

    def one_value(name, values, default):
        """A request-wide argument sent a row each (TF Serving's row format): the same in every row, else an error."""
        values = checked(tf.reduce_all(values == values[:1]),
                         [f"beam_search: {name} must be the same in every row, got", values], values)
        return tf.concat([values, [default]], axis=0)[0]  # an empty batch takes the default

    @tf.function(input_signature=[_TEXT, tf.TensorSpec([None], tf.int32, name="beam_size"),
                                  tf.TensorSpec([None], tf.float32, name="alpha"),
                                  tf.TensorSpec([None], tf.float32, name="beta")])
    def beam_search(text, beam_size, alpha, beta):
        text, beam_size, alpha, beta = same_batch("beam_search", checked_shapes(
            (text, beam_size, alpha, beta), ([None], [None], [None], [None])))
        beam_size = checked_range("beam_search", "beam_size", beam_size, 1, MAX_BEAM_SIZE)
        alpha = checked_non_negative("beam_search", "alpha", alpha)
        beta = checked_non_negative("beam_search", "beta", beta)
        beam_size, alpha, beta = (one_value(name, values, default) for name, values, default in (
            ("beam_size", beam_size, beam_size_default), ("alpha", alpha, alpha_default), ("beta", beta, beta_default)))
        out, status = search(text, beam_size, alpha, beta)
        shape = tf.shape(out["ids"])
        flat = tokenizer.detokenize(tf.reshape(out["ids"], [-1, shape[2]]))
        result = {"translations": tf.reshape(flat, shape[:2]), "scores": out["scores"]}
        if "attention" in out:
            result["attention"] = out["attention"]
        return served_rows(status, result, no_translation)

    @tf.function(input_signature=[_TEXT])
    def greedy(text):
        source, valid = _source_ids(tokenizer, text, max_length)
        status = row_status(valid, EMPTY_SOURCE)
        out = decoding.greedy(step, model.encode(source), tokenizer.start_id, tokenizer.end_id, max_length)
        result = {"translation": tokenizer.detokenize(out["ids"]), "score": out["log_prob"]}
        return served_rows(status, result, no_translation)

    pair = [tf.TensorSpec([None], tf.string, name="source"), tf.TensorSpec([None], tf.string, name="target")]

    @tf.function(input_signature=pair)
    def score(source, target):
        _, targets, log_probs, _, status = _forced(model, tokenizer, source, target, max_length, "score")
        total = tf.where(status["valid"], tf.reduce_sum(log_probs, axis=1), -float("inf"))
        return {"score": total, "piece_scores": log_probs, "pieces": _padded_pieces(tokenizer, targets),
                "lengths": tf.reduce_sum(tf.cast(targets != tokenizer.pad_id, tf.int32), axis=1), **status}

    functions = {SERVING_SIGNATURE: translate, "beam_search": beam_search, "greedy": greedy, "score": score}
    if model.has_attention:

        @tf.function(input_signature=pair)
        def alignment(source, target):
            source_ids, targets, _, attention, status = _forced(model, tokenizer, source, target, max_length,
                                                                "alignment", return_attention=True)
            real = tf.cast(targets != tokenizer.pad_id, attention.dtype)[:, :, None]
            return {"attention": attention * real, "source_pieces": _padded_pieces(tokenizer, source_ids),
                    "target_pieces": _padded_pieces(tokenizer, targets), **status}

        functions["alignment"] = alignment
    return functions


def translation_to_tflite(model, tokenizer, max_length, beam_size=4, alpha=0.6, beta=0.2, quantize=False):
    """The translator of `serving_default` for one sentence, as TFLite: `text` string `[1]` → `translation`.

    Tokenise → encode → beam search → detokenise in one graph: the
    SentencePiece ops are tensorflow-text's TFLite custom ops (run it with
    LiteRT's `InterpreterWithCustomOps` and `tensorflow_text.
    tflite_registrar.SELECT_TFTEXT_OPS`), which have no byte fallback: a
    character the model never saw reads as `[UNK]` and writes as " ⁇ "
    (`SubwordTokenizer`). The search is `zoo.decoding.beam_search` in its
    static mode (`beam_size`, `alpha`, `beta` fixed in the graph, as the
    export's defaults), and the source is padded to `max_length`, so every
    shape is static. Outputs, in order: `TRANSLATION_TFLITE_OUTPUTS`:
    `translation` string `[1]`, its `score` s(Y, X) `[1]`, and the `ids`
    int32 `[1, max_length]` written (0 after the END id, 3; `vocab.txt`:
    id = line number). `quantize`: dynamic-range quantisation (see
    `freeze_to_tflite`).
    """

    @tf.function(input_signature=[tf.TensorSpec([1], tf.string, name="text")])
    def translate(text):
        pieces = tokenizer.tokenize_on_device(text)[:max_length]
        source = tf.reshape(tf.pad(pieces, [[0, max_length - tf.shape(pieces)[0]]], constant_values=tokenizer.pad_id),
                            [1, max_length])  # static, as the static search needs
        out = decoding.beam_search(translation_step(model, tokenizer), model.encode(source), tokenizer.start_id,
                                   tokenizer.end_id, max_length, beam_size, alpha, beta,
                                   source_mask=model.padding_mask(source), pad_id=tokenizer.pad_id, static_length=True)
        ids = out["ids"][:, 0]
        return tokenizer.detokenize_on_device(ids[0]), out["scores"][:, 0], ids  # TRANSLATION_TFLITE_OUTPUTS

    return freeze_to_tflite(translate, model, custom_ops=True, quantize=quantize)


def export_translation(model, tokenizer, export_base, max_length, beam_size=4, alpha=0.6, beta=0.2, tflite=True):
    """Writes a translation model to `export_base/<next version>/`; returns that path.

    Signatures: see `translation_functions`. `assets.extra/` holds the
    tokenizer's `sentencepiece.model` and `vocab.txt` (its pieces, id = line
    number), `translation.json` (limits, defaults and reserved ids) and, with
    `tflite=True`, `translation.tflite`.
    """
    portable = portable_copy(model)
    signatures = translation_functions(portable, tokenizer, max_length, beam_size, alpha, beta)
    extra_files = {
        "translation.json": json.dumps({"max_length": max_length, "beam_size": beam_size, "alpha": alpha,
                                        "beta": beta, "max_beam_size": MAX_BEAM_SIZE, "padding_id": tokenizer.pad_id,
                                        "unknown_id": tokenizer.unk_id, "start_id": tokenizer.start_id,
                                        "end_id": tokenizer.end_id}, indent=2),
    }
    if tflite:
        extra_files["translation.tflite"] = translation_to_tflite(portable, tokenizer, max_length, beam_size, alpha,
                                                                  beta)
    return write_export(export_base, "translation", portable, signatures, extra_files, tokenizer)
