"""Handwriting synthesis exports (Graves 2013 §5): text in, handwriting out, the sampling loop in the graph.

`serving_default` takes batch-shaped inputs only (`text`, `bias`, `seed`,
each `[batch]`), so TF Serving's REST row format (`{"instances": [...]}`)
can carry them; a row's strokes depend on its own text, bias and seed only.
An empty text gives that row no strokes and `finished = false`; it never
fails the batch. `.tflite`: the one-step cell with the window state, for a
device loop.
"""

import json

import tensorflow as tf

from zoo.export.core import SERVING_SIGNATURE, checked, checked_shapes, portable_copy, write_export

# Caps, so that one request cannot hold a server for long.
MAX_TEXT_CHARACTERS = 120
POINTS_PER_CHARACTER = 40  # the step cap of a row: U · 40 points (IAM lines have about 25 per character)


def synthesis_function(model, tokenizer, offset_mean, offset_std, max_characters=MAX_TEXT_CHARACTERS,
                       points_per_character=POINTS_PER_CHARACTER):
    """The `serving_default` signature: `text`, `bias`, `seed` `[batch]` → strokes, lengths, finished, alignment.

    - `strokes` float32 `[batch, T, 3]`: (Δx, Δy, end of stroke) in the
      data's units (tracker units for IAM-OnDB), zero after a row's end;
    - `lengths` int32 `[batch]`: points of each row;
    - `finished` bool `[batch]`: the row stopped by §5.3's rule (false: it
      ran out of steps, or its text is empty);
    - `alignment` float32 `[batch, T, U]`: the window φ(t, u) of each point
      over the characters.

    Characters outside the model's alphabet are written as `[UNK]`; a text of
    more than `max_characters` characters, a negative or non-finite bias, or
    inputs of different batch sizes fail the request with INVALID_ARGUMENT
    naming the argument.
    """
    scale = tf.constant([*offset_std, 1.0], tf.float32)
    shift = tf.constant([*offset_mean, 0.0], tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text"),
                                  tf.TensorSpec([None], tf.float32, name="bias"),
                                  tf.TensorSpec([None], tf.int64, name="seed")])
    def write(text, bias, seed):
        text, bias, seed = checked_shapes((text, bias, seed), ([None], [None], [None]))
        rows = tf.shape(text)[0]
        same = (tf.shape(bias)[0] == rows) & (tf.shape(seed)[0] == rows)
        text = checked(same, ["serving_default: text, bias and seed must have the same batch size"], text)
        char_ids = tokenizer(text)
        lengths = tf.reduce_sum(tf.cast(char_ids != tokenizer.pad_id, tf.int32), axis=1)
        char_ids = checked(tf.reduce_all(lengths <= max_characters),
                           [f"serving_default: text longer than {max_characters} characters at batch index",
                            tf.where(lengths > max_characters)[:, 0]], char_ids)
        bias = checked(tf.reduce_all(tf.math.is_finite(bias) & (bias >= 0.0)),
                       ["serving_default: bias must be finite and >= 0, got", bias], bias)
        max_steps = tf.reduce_max(tf.concat([lengths, [1]], 0)) * points_per_character  # at least 1
        out = model.sample(char_ids, max_steps, bias, seed)
        written = tf.where(lengths > 0, out["lengths"], 0)
        real = tf.range(tf.shape(out["strokes"])[1])[None, :] < written[:, None]
        strokes = tf.where(real[:, :, None], out["strokes"] * scale + shift, 0.0)
        return {"strokes": strokes, "lengths": written, "finished": out["finished"] & (lengths > 0),
                "alignment": tf.where(real[:, :, None], out["alignment"], 0.0)}

    return write


def export_synthesis(model, tokenizer, offset_mean, offset_std, export_base):
    """Writes a synthesis model to `export_base/<next version>/`; returns that path.

    `assets.extra/` holds the tokenizer's `characters.json` (the alphabet:
    id = position) and `normalisation.json` (the offset statistics).
    """
    portable = portable_copy(model)
    write = synthesis_function(portable, tokenizer, offset_mean, offset_std)
    extra_files = {**tokenizer.assets(),
                   "normalisation.json": json.dumps({"offset_mean": list(map(float, offset_mean)),
                                                     "offset_std": list(map(float, offset_std))})}
    return write_export(export_base, portable, tokenizer.resources, {SERVING_SIGNATURE: write}, extra_files)
