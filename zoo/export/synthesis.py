"""Handwriting synthesis exports (Graves 2013 §5): text in, handwriting out, the sampling loop in the graph.

`serving_default` takes batch-shaped inputs only (`text`, `bias`, `seed`,
each `[batch]`), so TF Serving's REST row format (`{"instances": [...]}`)
can carry them; a row's strokes depend on its own text, bias and seed only.
`write_in_style` adds a writer's strokes and their text (§5.5). `score`
takes lines of strokes with their text and returns each line's negative
log-likelihood, as the recipe validates.
An empty text gives that row no strokes and `finished = false`; it never
fails the batch. `.tflite` (`synthesis_step_tflite`): the one-step cell with
the window state and the draw of the next point from given random numbers,
for a device loop (`zoo.web.SynthesisLoop` in Python, `web/` in a browser).
"""

import json

import tensorflow as tf

from zoo.export.core import (SERVING_SIGNATURE, bias_checks, checked, checked_shapes, in_range_check, portable_copy,
                             row_checks, same_batch, served_rows, write_export)
from zoo.export.graves import MAX_BIAS, MAX_SCORED_POINTS, offset_scaling, stroke_checks, whole_lines
from zoo.export.tflite import freeze_to_tflite

# Caps, so that one request cannot hold a server for long.
MAX_TEXT_CHARACTERS = 120
POINTS_PER_CHARACTER = 40  # the step cap of a row: U · 40 points (IAM lines have about 22 per character)
MAX_STYLE_POINTS = 2_000  # points of a style line (IAM's longest line has 1,940)
SYNTHESIS_TFLITE = "graves_synthesis_step.tflite"  # in assets.extra/: see synthesis_step_tflite
SYNTHESIS_SETTINGS = "synthesis.json"  # in assets.extra/: the caps above, for a device loop (zoo.web)
EMPTY_TEXT = "empty text"


def read_texts(tokenizer, texts, max_characters):
    """The texts' ids (cut to `max_characters`), their counts, and the `row_checks` checks of the texts.

    A text is refused when it has no character or more than `max_characters`.
    """
    char_ids = tokenizer(texts)
    lengths = tf.reduce_sum(tf.cast(char_ids != tokenizer.pad_id, tf.int32), axis=1)
    checks = [(lengths > 0, EMPTY_TEXT),
              (lengths <= max_characters, tf.strings.join([f"text longer than {max_characters} characters: ",
                                                           tf.strings.as_string(lengths)]))]
    return char_ids[:, :max_characters], tf.minimum(lengths, max_characters), checks


def synthesis_functions(model, tokenizer, offset_mean, offset_std, max_characters=MAX_TEXT_CHARACTERS,
                        points_per_character=POINTS_PER_CHARACTER, max_style_points=MAX_STYLE_POINTS,
                        max_scored_points=MAX_SCORED_POINTS, max_bias=MAX_BIAS):
    """The signatures: `serving_default`, `write_in_style` (§5.5, primed sampling) and `score`.

    `serving_default`: `text`, `bias`, `seed` `[batch]` →
    - `strokes` float32 `[batch, T, 3]`: (Δx, Δy, end of stroke) in the
      data's units (tracker units for IAM-OnDB), zero after a row's end;
    - `lengths` int32 `[batch]`: points of each row;
    - `finished` bool `[batch]`: the row stopped by §5.3's rule (false: it
      ran out of steps, or its text is empty);
    - `alignment` float32 `[batch, T, U]`: the window φ(t, u) of each point
      over the characters;
    - `valid` bool, `error` string `[batch]` (`row_checks`): false and
      "empty text" for a row with nothing to write (no strokes); the other
      rows are written as they would be alone.

    `write_in_style` adds a writer's `style_strokes` float32 `[batch, S, 3]`
    (data units, as `strokes`), `style_lengths` int32 `[batch]` (row b's
    first `style_lengths[b]` points are real) and their transcription
    `style_text` `[batch]`: the network reads them first and writes `text`
    in that hand; its `alignment` runs over `style_text`, a space, `text`.

    Characters outside the model's alphabet are written as `[UNK]`. A row is
    not `valid` (no strokes, its `error` says why; `row_checks`) when its text
    is empty, has more than `max_characters` characters (with its style text,
    in `write_in_style`), its bias is negative, over `max_bias` or not
    finite, or its style strokes are not finite or their length lies outside
    [1, S]; the other rows are written as they would be alone. Style strokes
    of no point or of more than `max_style_points`, or inputs of different
    batch sizes, fail the request with INVALID_ARGUMENT naming the argument.

    `score`: `text` `[batch]`, `strokes` float32 `[batch, T, 3]` (data
    units, as `strokes` above: end of stroke 0 or 1) and `lengths` int32
    `[batch]` (row b's first `lengths[b]` points are its line, the rest
    padding) → `nats` float32 `[batch]`, the line's negative log-likelihood
    given its text, −Σ_t log Pr(x_t | x_1..x_{t-1}, text) in nats of the
    normalised offsets' density (the first point predicted from a pen-up),
    computed as `recipes/train_graves_synthesis.py` validates
    (`validation_negative_log_likelihood` over
    `zoo.data.handwriting_text.synthesis_dataset`), so a card's nats per
    line can be recomputed from the export alone; `points` int32 `[batch]`,
    the points predicted (the line's length); `valid`/`error`. A row is
    refused (`nats` and `points` 0) when its text is empty or longer than
    `max_characters`, its length lies outside [1, min(T, max_scored_points)],
    or one of its points is not finite or has an end of stroke other than 0
    or 1; the other rows are scored as they would be alone.
    """
    scale, shift = offset_scaling(offset_mean, offset_std)
    batch_inputs = [tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([None], tf.float32, name="bias"),
                    tf.TensorSpec([None], tf.int64, name="seed")]

    def read_request(signature, texts, bias, seed, *more):
        """The texts' ids (cut to `max_characters`) and their counts, and the row checks of the text and bias."""
        texts, bias, seed = checked_shapes((texts, bias, seed), ([None], [None], [None]))
        texts = same_batch(signature, [texts, bias, seed, *more])[0]
        char_ids, lengths, checks = read_texts(tokenizer, texts, max_characters)
        return char_ids, lengths, [*checks, *bias_checks(bias, max_bias)]

    def answer(out, status):
        """The model's sample in data units; a refused row (`status`) gets no strokes."""
        written = tf.where(status["valid"], out["lengths"], 0)
        real = tf.range(tf.shape(out["strokes"])[1])[None, :] < written[:, None]
        return {"strokes": tf.where(real[:, :, None], out["strokes"] * scale + shift, 0.0), "lengths": written,
                "finished": out["finished"] & status["valid"],
                "alignment": tf.where(real[:, :, None], out["alignment"], 0.0), **status}

    def steps_for(lengths, status):
        """The step cap of the batch: its longest served text's (at least 1 step)."""
        return tf.maximum(tf.reduce_max(tf.concat([tf.where(status["valid"], lengths, 0), [0]], 0)), 1) * \
            points_per_character

    @tf.function(input_signature=batch_inputs)
    def write(text, bias, seed):
        char_ids, lengths, checks = read_request(SERVING_SIGNATURE, text, bias, seed)
        status = row_checks(*checks)
        bias = tf.where(status["valid"], bias, 0.0)  # a refused row is written beside the others, then dropped
        return answer(model.sample(char_ids, steps_for(lengths, status), bias, seed), status)

    @tf.function(input_signature=[*batch_inputs, tf.TensorSpec([None, None, 3], tf.float32, name="style_strokes"),
                                  tf.TensorSpec([None], tf.int32, name="style_lengths"),
                                  tf.TensorSpec([None], tf.string, name="style_text")])
    def write_in_style(text, bias, seed, style_strokes, style_lengths, style_text):
        style_strokes, style_lengths, style_text = checked_shapes((style_strokes, style_lengths, style_text),
                                                                  ([None, None, 3], [None], [None]))
        points = tf.shape(style_strokes)[1]
        style_strokes = checked((points >= 1) & (points <= max_style_points),
                                [f"write_in_style: style_strokes must have 1 to {max_style_points} points, got",
                                 points], style_strokes)
        _, own_lengths, own_checks = read_request("write_in_style", text, bias, seed, style_strokes,
                                                  style_lengths, style_text)
        with tf.control_dependencies([own_lengths]):  # the batch sizes are checked before the texts are joined
            whole_text = tf.strings.join([style_text, text], " ")
        char_ids, _, whole_checks = read_request("write_in_style", whole_text, bias, seed)
        finite = tf.reduce_all(tf.math.is_finite(style_strokes), axis=[1, 2])
        status = row_checks(*own_checks,
                            (whole_checks[1][0], tf.strings.join(["style text and ", whole_checks[1][1]])),
                            (finite, "style_strokes must be finite"),
                            in_range_check("style_lengths", style_lengths, 1, points))
        # A refused row is written beside the others from harmless stand-ins, then dropped.
        bias = tf.where(status["valid"], bias, 0.0)
        style_strokes = tf.where(finite[:, None, None], style_strokes, 0.0)
        style_lengths = tf.where(status["valid"], style_lengths, 1)
        state, last = model.prime((style_strokes - shift) / scale, style_lengths, char_ids)
        return answer(model.sample(char_ids, steps_for(own_lengths, status), bias, seed, state=state,
                                   first_point=last), status)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None, None, 3], tf.float32, name="strokes"),
                                  tf.TensorSpec([None], tf.int32, name="lengths")])
    def score(text, strokes, lengths):
        text, strokes, lengths = checked_shapes((text, strokes, lengths), ([None], [None, None, 3], [None]))
        # `lengths` carries the batch check: every op that joins the inputs reads it, so the check runs first.
        lengths, text, strokes = same_batch("score", [lengths, text, strokes])
        char_ids, _, text_checks = read_texts(tokenizer, text, max_characters)
        status = row_checks(*text_checks, *stroke_checks(strokes, lengths, max_scored_points))
        inputs, targets, weights = whole_lines(strokes, lengths, status["valid"], offset_mean, offset_std)
        # The padding row `whole_lines` gives an empty batch reads no text.
        char_ids = tf.pad(char_ids, [[0, tf.shape(inputs)[0] - tf.shape(char_ids)[0]], [0, 0]])
        nll = model.mixture_density.negative_log_likelihood(targets, model((inputs, char_ids))) * weights
        return served_rows(status, {"nats": tf.reduce_sum(nll, axis=1)[:tf.shape(lengths)[0]], "points": lengths})

    return {SERVING_SIGNATURE: write, "write_in_style": write_in_style, "score": score}


def export_synthesis(model, tokenizer, offset_mean, offset_std, export_base, tflite=True):
    """Writes a synthesis model to `export_base/<next version>/`; returns that path.

    Signatures `serving_default` (text → handwriting), `write_in_style` and
    `score` (each given line's negative log-likelihood given its text, in
    nats): see `synthesis_functions`. `assets.extra/` holds the tokenizer's
    `characters.json` (the alphabet: id = position), `normalisation.json`
    (the offset statistics), `synthesis.json` (the signatures' caps:
    `max_text_characters`, `points_per_character`, `max_bias`,
    `max_style_points`, for a device loop to keep) and, with
    `tflite=True`, `graves_synthesis_step.tflite`: the one-step cell with its
    window state for a device loop, texts of up to `MAX_TEXT_CHARACTERS`
    characters (see `synthesis_step_tflite` for its inputs, outputs and loop).
    """
    portable = portable_copy(model)
    signatures = synthesis_functions(portable, tokenizer, offset_mean, offset_std)
    extra_files = {"normalisation.json": json.dumps({"offset_mean": list(map(float, offset_mean)),
                                                     "offset_std": list(map(float, offset_std))}),
                   SYNTHESIS_SETTINGS: json.dumps({"max_text_characters": MAX_TEXT_CHARACTERS,
                                                   "points_per_character": POINTS_PER_CHARACTER,
                                                   "max_bias": MAX_BIAS, "max_style_points": MAX_STYLE_POINTS})}
    if tflite:
        extra_files[SYNTHESIS_TFLITE] = synthesis_step_tflite(portable, offset_mean, offset_std)
    return write_export(export_base, "synthesis", portable, signatures, extra_files, tokenizer)


def synthesis_step_tflite(model, offset_mean, offset_std, max_characters=MAX_TEXT_CHARACTERS, quantize=False):
    """One step of the synthesis network (§5) with its window state and its draw, as TFLite, for a device loop.

    Built on the model's own `initial_state`, `decode_step` and
    `MixtureDensityOutput.sample_from_uniforms`: the `.tflite` computes what
    `model.sample` computes for one point, batch 1, and draws that point from
    random numbers it is given, so every loop over it (LiteRT in Python, the
    browser's LiteRT.js, a phone) that feeds the same numbers writes the same
    strokes. Variables are frozen; every op is a TFLite builtin (no Flex delegate).

    Inputs (static shapes, batch 1; look them up by name):

    - `point` float32 `[1, 3]`: the previous normalised pen offset (Δx, Δy,
      end of stroke): `(0, 0, 1)` (pen up) before the first point, then the
      drawn point of the step before (output 3);
    - `char_ids` int32 `[1, max_characters]`: the text as ids, `0`-padded
      after its last character. The device tokenises with `characters.json`
      (a JSON list): a character's id is its position in the list, a
      character not in it is `1` (`[UNK]`); one id per Unicode code point.
      A text longer than `max_characters` cannot be written (the SavedModel
      refuses it too); the same ids are fed at every step;
    - `bias` float32 `[1]`: the bias b of §5.4, in [0, `MAX_BIAS`] as the
      SavedModel takes it (the cell does not check it);
    - `uniforms` float32 `[1, 4]`: four random numbers in [0, 1) for this
      step's draw (`sample_from_uniforms`: the component, two for the
      normals, the end of stroke);
    - the state, float32, zeros before the first point:
      `state_0_h`, `state_0_c` `[1, units]` (the windowed first LSTM layer),
      `kappa` `[1, window_components]` (κ, the window's positions),
      `window` `[1, alphabet_size]` (w, the window's last reading), then
      `state_<n>_h`, `state_<n>_c` `[1, units]` for each layer n = 1 ..
      num_layers - 1 above it.

    Outputs, by position (the signature names them `output_<position>`;
    `tflite_outputs` lists them in order):

    0. ŷ float32 `[1, 1 + 6M]`: the mixture density's parameters
       (ê, π̂ ×M, μ̂1 ×M, μ̂2 ×M, σ̂1 ×M, σ̂2 ×M, ρ̂ ×M), as the handwriting
       `.tflite` returns them;
    1. `finished` float32 `[1]`: 1.0 where §5.3's stop rule holds (φ at U + 1
       exceeds φ at every character: the window has passed the text), else 0.0;
    2. φ float32 `[1, max_characters]`: the window over the characters
       (0 at padded positions), for an alignment display;
    3. the drawn next point float32 `[1, 3]`, normalised: (Δx, Δy, end of
       stroke) from ŷ with the bias (eqs. 61-62: π = softmax(π̂ (1 + b)),
       σ = exp(σ̂ − b), ρ = tanh ρ̂, end of stroke 1 with probability
       e = 1 / (1 + exp(ê))), to feed back as `point`;
    4. the same point in the data's units, float32 `[1, 3]`: (Δx, Δy) ·
       offset_std + offset_mean, end of stroke as it is, to draw;
    5. ... the new state, one output per state input, in the inputs' order.

    Each step the device: feeds the previous point, the ids, the bias, four
    new uniforms and the state; keeps output 4; stops when `finished` is 1
    (that step's point included, as `model.sample` keeps it) or after its
    own step cap (`POINTS_PER_CHARACTER` per character, as `serving_default`);
    otherwise feeds output 3 and the new state back. Priming (§5.5,
    `write_in_style`): the ids are the style's text, a space, then the
    text; the cell first reads the style's normalised points, each step fed
    the point before (pen up first) with its outputs but the state ignored,
    then writes from the style's last point. `zoo.web.SynthesisLoop` is this
    loop in Python.

    `quantize`: dynamic-range quantisation (see `freeze_to_tflite`).
    """
    portable = portable_copy(model)
    units, layers = portable.units, portable.num_layers
    state_specs = [tf.TensorSpec([1, units], tf.float32, name="state_0_h"),
                   tf.TensorSpec([1, units], tf.float32, name="state_0_c"),
                   tf.TensorSpec([1, portable.window_components], tf.float32, name="kappa"),
                   tf.TensorSpec([1, portable.alphabet_size], tf.float32, name="window")]
    state_specs += [tf.TensorSpec([1, units], tf.float32, name=f"state_{n}_{part}")
                    for n in range(1, layers) for part in "hc"]
    # The names decode_step's state dict gives the same tensors, in the inputs' order.
    state_keys = ["h_0", "c_0", "kappa", "w", *(f"{part}_{n}" for n in range(1, layers) for part in "hc")]
    scale, shift = offset_scaling(offset_mean, offset_std)

    @tf.function(input_signature=[tf.TensorSpec([1, 3], tf.float32, name="point"),
                                  tf.TensorSpec([1, max_characters], tf.int32, name="char_ids"),
                                  tf.TensorSpec([1], tf.float32, name="bias"),
                                  tf.TensorSpec([1, 4], tf.float32, name="uniforms"), *state_specs])
    def step(point, char_ids, bias, uniforms, *states):
        # The text's one-hot and mask come from initial_state; its zero states are replaced by the inputs.
        state = {**portable.initial_state(char_ids), **dict(zip(state_keys, states))}
        output, new_state, phi = portable.decode_step(point, state)
        drawn = portable.mixture_density.sample_from_uniforms(output["y_hat"], bias[:, None], uniforms)
        return (output["y_hat"], tf.cast(output["finished"], tf.float32), phi, drawn, drawn * scale + shift,
                *(new_state[key] for key in state_keys))

    return freeze_to_tflite(step, portable, quantize=quantize)
