"""Graves 2013 exports: text generation from a prime, handwriting sampling, scoring, and one-step `.tflite` cells.

The SavedModels generate with the models' own `generate` / `sample` (the
loop of `zoo.decoding`) inside the graph, and score given text or strokes
(`score`) as the recipes evaluate them, so a model card's number can be
recomputed from the export alone. The `.tflite` files are one step of
the network, for a loop on the device: inputs the step's input (a character
id `[1, 1]` or a pen offset `[1, 1, 3]`) and `state_<n>_h`, `state_<n>_c`
float32 `[1, units]` for each layer n; outputs, in order, the step's output
(character logits, or ŷ of the mixture density) and the new states in the
same order. The device feeds each drawn character or point and the states back.
"""

import json

import tensorflow as tf

from zoo.data.handwriting import START
from zoo.export.core import (SERVING_SIGNATURE, bias_checks, checked_shapes, in_range_check, non_negative_check,
                             portable_copy, row_checks, same_batch, served_rows, write_export)
from zoo.text import prepare_text
from zoo.text.reserved import UNK_ID
from zoo.export.tflite import freeze_to_tflite

# Caps, so that one request cannot hold a server for long.
MAX_GENERATED_CHARACTERS = 10_000
MAX_PRIME_CHARACTERS = 10_000
MAX_SAMPLED_POINTS = 5_000
MAX_SCORED_POINTS = 5_000  # points of a scored line, as many as `sample` draws (IAM-OnDB's longest line has 1,940)
MAX_BIAS = 10.0  # b = 10 already shrinks every σ e^10 ≈ 22,000 times: the pen follows the means

# The step inputs of the .tflite cells.
CHARACTER_STEP_INPUT = tf.TensorSpec([1, 1], tf.int32, name="char_id")
POINT_STEP_INPUT = tf.TensorSpec([1, 1, 3], tf.float32, name="point")


def offset_scaling(offset_mean, offset_std):
    """`(scale, shift)` float32 `[3]`: normalised (Δx, Δy, end of stroke) · scale + shift are in the data's units,
    (x − shift) / scale normalised again (`zoo.data.handwriting.denormalise` / `normalise`; the pen bit as it is)."""
    return tf.constant([*offset_std, 1.0], tf.float32), tf.constant([*offset_mean, 0.0], tf.float32)


EMPTY_PRIME = "empty prime text"


def graves_text_generate_function(model, tokenizer, max_length=MAX_GENERATED_CHARACTERS,
                                  max_prime=MAX_PRIME_CHARACTERS):
    """The `generate` signature: a row's prime `text`, `length`, `temperature`, `seed` → generated `text`.

    Every input is `[batch]`, so TF Serving's row format (`{"instances":
    [{"text": ..., "length": ..., ...}]}`) carries it. A row samples from its
    own seed only (`zoo.decoding.sample`), so it is what it would be alone;
    `temperature` 0 is greedy. A row is not `valid` (`row_checks`; its text
    is "", its `error` says why) when its prime has no character ("empty
    prime text"), its length lies outside [1, max_length] or its temperature
    is negative or not finite; the other rows are written as they would be
    alone.
    """

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([None], tf.int32, name="length"),
        tf.TensorSpec([None], tf.float32, name="temperature"), tf.TensorSpec([None], tf.int64, name="seed")])
    def generate(text, length, temperature, seed):
        text, length, temperature, seed = same_batch("generate", checked_shapes(
            (text, length, temperature, seed), ([None], [None], [None], [None])))
        # Only the prime's last max_prime characters condition the sample: a huge prime costs no more.
        characters = tf.strings.unicode_split(prepare_text(text), "UTF-8")
        prime = tokenizer(tf.strings.reduce_join(characters[:, -max_prime:], axis=1))
        status = row_checks((tf.reduce_any(prime != tokenizer.pad_id, axis=1), EMPTY_PRIME),
                            in_range_check("length", length, 1, max_length),
                            non_negative_check("temperature", temperature))
        # A refused row runs as [UNK] alone, 1 character at temperature 1, so that the batch runs; its row's text
        # is not kept.
        first_column = tf.range(tf.shape(prime)[1])[None, :] == 0
        prime = tf.where(status["valid"][:, None] | ~first_column, prime, UNK_ID)
        length = tf.where(status["valid"], length, 1)
        temperature = tf.where(status["valid"], temperature, 1.0)
        steps = tf.maximum(tf.reduce_max(length), 1)  # the longest row's; each row is cut to its own
        ids = model.generate(prime, steps, temperature, tf.stack([seed, tf.zeros_like(seed)], axis=1))
        ids = tf.where(tf.range(tf.shape(ids)[1])[None, :] < length[:, None], ids, tokenizer.pad_id)
        return {"text": tf.where(status["valid"], tokenizer.detokenize(ids), ""), **status}

    return generate


def graves_step_tflite(model, input_spec, quantize=False):
    """The one-step cell of a Graves model as TFLite (module docstring), for a device loop.

    `input_spec`: `CHARACTER_STEP_INPUT` or `POINT_STEP_INPUT`. `quantize`:
    dynamic-range quantisation (see `freeze_to_tflite`).
    """
    portable = portable_copy(model)
    state_specs = [tf.TensorSpec([1, model.units], tf.float32, name=f"state_{n}_{part}")
                   for n in range(model.num_layers) for part in "hc"]

    @tf.function(input_signature=[input_spec, *state_specs])
    def step(step_input, *flat_states):
        states = [[flat_states[2 * n], flat_states[2 * n + 1]] for n in range(model.num_layers)]
        output, states = portable(step_input, initial_states=states, return_states=True)
        return (output[:, -1], *[tensor for pair in states for tensor in pair])

    return freeze_to_tflite(step, portable, quantize=quantize)


SHORT_TEXT = "text of fewer than 2 characters"


def graves_text_score_function(model, tokenizer, window=1000):
    """The `score` signature: a row's `text` → `bits_per_character`, the mean of −log₂ p(x_{t+1} | x_1..x_t).

    Each row is read in order from zero states, `window` characters a step
    of a loop whose states carry on (§3: the test text is one stream, as
    Graves evaluates it; a million characters cost one window's memory), so
    a card's bits per character can be computed from the export alone.
    Outputs: `bits_per_character` float32 `[batch]`, `characters` int32
    `[batch]` (how many were predicted: the row's characters but the first),
    `valid`/`error` (a text of fewer than 2 characters has nothing to score).
    Characters outside the vocabulary read as `[UNK]`.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def score(text):
        (text,) = checked_shapes((text,), ([None],))
        ids = tokenizer(prepare_text(text))
        counts = tf.reduce_sum(tf.cast(ids != tokenizer.pad_id, tf.int32), axis=1)
        status = row_checks((counts >= 2, SHORT_TEXT))
        rows, length = tf.shape(ids)[0], tf.shape(ids)[1]
        states = [[tf.zeros([rows, model.units]), tf.zeros([rows, model.units])] for _ in range(model.num_layers)]

        def read(start, nll, states):
            targets = ids[:, start + 1: start + 1 + window]
            inputs = ids[:, start: start + tf.shape(targets)[1]]
            logits, states = model(inputs, initial_states=states, return_states=True)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, tf.cast(logits, tf.float32))
            return start + window, nll + tf.reduce_sum(tf.where(targets != tokenizer.pad_id, losses, 0.0), 1), states

        _, nll, _ = tf.while_loop(lambda start, *_: start < length - 1, read, (0, tf.zeros([rows]), states))
        predicted = tf.maximum(counts - 1, 0)
        bits = nll / tf.cast(tf.maximum(predicted, 1), tf.float32) / tf.math.log(2.0)
        return served_rows(status, {"bits_per_character": bits, "characters": predicted})

    return score


def export_graves_text(model, tokenizer, export_base, tflite=True):
    """Writes a Graves character model to `export_base/<next version>/`; returns that path.

    Signatures `generate` and `serving_default` (the same function), and
    `score` (bits per character of given texts); `assets.extra/` holds the tokenizer's `characters.json` (the vocabulary:
    id = position) and, with `tflite=True`, `graves_text_step.tflite`.
    """
    portable = portable_copy(model)
    generate = graves_text_generate_function(portable, tokenizer)
    extra_files = {}
    if tflite:
        extra_files["graves_text_step.tflite"] = graves_step_tflite(portable, CHARACTER_STEP_INPUT)
    signatures = {SERVING_SIGNATURE: generate, "generate": generate,
                  "score": graves_text_score_function(portable, tokenizer)}
    return write_export(export_base, "text", portable, signatures, extra_files, tokenizer)


def graves_handwriting_sample_function(model, offset_mean, offset_std, max_steps=MAX_SAMPLED_POINTS,
                                       max_bias=MAX_BIAS):
    """The `sample` signature: a row's `steps`, `bias`, `seed` → `strokes` `[batch, T, 3]` in the data's units.

    Every input is `[batch]` (TF Serving's row format carries it); a row draws
    from its own seed only. `strokes` holds each row's `steps` points, then
    zeros to the longest row's (`lengths` says how many). The model samples
    normalised offsets; they are scaled back with the training set's mean
    and standard deviation of (Δx, Δy). A row is not `valid` (`row_checks`:
    no strokes, `lengths` 0, its `error` says why) when its steps lie outside
    [1, max_steps] or its bias is not finite or outside [0, max_bias]; the
    other rows are drawn as they would be alone.
    """
    scale, shift = offset_scaling(offset_mean, offset_std)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="steps"),
                                  tf.TensorSpec([None], tf.float32, name="bias"),
                                  tf.TensorSpec([None], tf.int64, name="seed")])
    def sample(steps, bias, seed):
        steps, bias, seed = same_batch("sample", checked_shapes((steps, bias, seed), ([None], [None], [None])))
        status = row_checks(in_range_check("steps", steps, 1, max_steps), *bias_checks(bias, max_bias))
        # A refused row keeps no point; it is drawn at bias 0 beside the others, so that the batch runs.
        steps = tf.where(status["valid"], steps, 0)
        bias = tf.where(status["valid"], bias, 0.0)
        rows = tf.shape(steps)[0]
        # Keras's RNNs cannot run a batch of 0 rows: an empty batch draws one row and keeps none of it.
        seeds = tf.pad(tf.stack([seed, tf.zeros_like(seed)], axis=1), [[0, tf.maximum(1 - rows, 0)], [0, 0]])
        drawn = model.sample(tf.maximum(tf.reduce_max(steps), 1), tf.pad(bias, [[0, tf.maximum(1 - rows, 0)]]),
                             seeds)[:rows]
        real = tf.range(tf.shape(drawn)[1])[None, :, None] < steps[:, None, None]
        return {"strokes": tf.where(real, drawn * scale + shift, 0.0), "lengths": steps, **status}

    return sample


STROKES_NOT_FINITE = "strokes must be finite"
PEN_NOT_0_OR_1 = "end of stroke must be 0 or 1"


def stroke_checks(strokes, lengths, max_points):
    """The `row_checks` checks of lines to score: `strokes` `[batch, T, 3]`, row b's first `lengths[b]` points.

    A row's length lies in [1, min(T, max_points)], and its points are
    finite with an end of stroke of 0 or 1. What follows them is padding:
    it is never read, so it may hold anything.
    """
    padding = tf.range(tf.shape(strokes)[1])[None, :, None] >= lengths[:, None, None]
    finite = tf.reduce_all(tf.math.is_finite(strokes) | padding, axis=[1, 2])
    pen = strokes[:, :, 2:]
    pen_bits = tf.reduce_all((pen == 0.0) | (pen == 1.0) | padding, axis=[1, 2])
    return [in_range_check("lengths", lengths, 1, tf.minimum(tf.shape(strokes)[1], max_points)),
            (finite, STROKES_NOT_FINITE), (pen_bits, PEN_NOT_0_OR_1)]


def whole_lines(strokes, lengths, valid, offset_mean, offset_std):
    """The rows as the recipes score whole lines: `(inputs, targets, weights)` of at least one row.

    As `zoo.data.handwriting.next_point_windows` builds a whole line (and
    `zoo.data.handwriting_text.synthesis_dataset` a line of text): targets
    are the row's points normalised as in training
    (`zoo.data.handwriting.normalise`: (Δx, Δy) − mean, over std), inputs
    the pen-up `START` then the targets but the last, weights 1 on the
    row's points; zeros after them. A row that is not `valid` is padding
    only. The rows are cut to the longest valid one, so that padding (or a
    refused row) costs no steps, and an empty batch gets one row of padding,
    as Keras's RNNs cannot run a batch of 0 rows.
    """
    scale, shift = offset_scaling(offset_mean, offset_std)
    lengths = tf.where(valid, lengths, 0)
    steps = tf.maximum(tf.reduce_max(tf.concat([lengths, [0]], 0)), 1)
    missing_rows = tf.maximum(1 - tf.shape(lengths)[0], 0)
    strokes = strokes[:, :steps]
    strokes = tf.pad(strokes, [[0, missing_rows], [0, steps - tf.shape(strokes)[1]], [0, 0]])
    real = tf.range(steps)[None, :] < tf.pad(lengths, [[0, missing_rows]])[:, None]
    targets = tf.where(real[:, :, None], (strokes - shift) / scale, 0.0)
    first = tf.broadcast_to(tf.constant(START, tf.float32), tf.shape(targets[:, :1]))
    return tf.concat([first, targets[:, :-1]], axis=1), targets, tf.cast(real, tf.float32)


def graves_handwriting_score_function(model, offset_mean, offset_std, max_points=MAX_SCORED_POINTS):
    """The `score` signature: lines of pen offsets → `nats`, each line's negative log-likelihood.

    Inputs: `strokes` float32 `[batch, T, 3]` in the data's units, as
    `sample` returns them: (Δx, Δy, end of stroke 0 or 1); `lengths` int32
    `[batch]`: row b's first `lengths[b]` points are its line, the rest
    padding. Each line is read whole from zero states and scored as
    `recipes/train_graves_handwriting.py` evaluates
    (`zoo.data.handwriting.whole_line_batches` through `whole_lines`, then
    `sequence_negative_log_likelihood`), so a card's nats per line can be
    recomputed from the export alone.

    Outputs: `nats` float32 `[batch]`: −Σ_t log Pr(x_t | x_1..x_{t-1}) over
    the line's points, the first predicted from a pen-up, in nats of the
    normalised offsets' density (so it can be negative); `points` int32
    `[batch]`: the points predicted (the line's length); `valid`/`error`
    (`row_checks`): a row is refused (`nats` and `points` 0) when its length
    lies outside [1, min(T, max_points)], or one of its points is not finite
    or has an end of stroke other than 0 or 1; the other rows are scored as
    they would be alone.
    """

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.float32, name="strokes"),
                                  tf.TensorSpec([None], tf.int32, name="lengths")])
    def score(strokes, lengths):
        strokes, lengths = checked_shapes((strokes, lengths), ([None, None, 3], [None]))
        # `lengths` carries the batch check: every op that joins the inputs reads it, so the check runs first.
        lengths, strokes = same_batch("score", [lengths, strokes])
        status = row_checks(*stroke_checks(strokes, lengths, max_points))
        inputs, targets, weights = whole_lines(strokes, lengths, status["valid"], offset_mean, offset_std)
        nats = model.sequence_negative_log_likelihood(inputs, targets, weights)[:tf.shape(lengths)[0]]
        return served_rows(status, {"nats": nats, "points": lengths})

    return score


def export_graves_handwriting(model, offset_mean, offset_std, export_base, tflite=True):
    """Writes a Graves handwriting model to `export_base/<next version>/`; returns that path.

    Signatures `sample` and `serving_default` (the same function), and
    `score` (each given line's negative log-likelihood, in nats);
    `assets.extra/` holds `normalisation.json` (the offset statistics) and,
    with `tflite=True`, `graves_handwriting_step.tflite` (its output is ŷ:
    the device samples the mixture, which is a few lines of arithmetic).
    """
    portable = portable_copy(model)
    sample = graves_handwriting_sample_function(portable, offset_mean, offset_std)
    extra_files = {"normalisation.json": json.dumps({"offset_mean": list(map(float, offset_mean)),
                                                     "offset_std": list(map(float, offset_std))})}
    if tflite:
        extra_files["graves_handwriting_step.tflite"] = graves_step_tflite(portable, POINT_STEP_INPUT)
    signatures = {SERVING_SIGNATURE: sample, "sample": sample,
                  "score": graves_handwriting_score_function(portable, offset_mean, offset_std)}
    return write_export(export_base, "handwriting", portable, signatures, extra_files)
