"""Graves 2013 exports: text generation from a prime, handwriting sampling, and one-step `.tflite` cells.

The SavedModels generate with the models' own `generate` / `sample` (the
loop of `zoo.decoding`) inside the graph. The `.tflite` files are one step of
the network, for a loop on the device: inputs the step's input (a character
id `[1, 1]` or a pen offset `[1, 1, 3]`) and `state_<n>_h`, `state_<n>_c`
float32 `[1, units]` for each layer n; outputs, in order, the step's output
(character logits, or ŷ of the mixture density) and the new states in the
same order. The device feeds each drawn character or point and the states back.
"""

import json

import tensorflow as tf

from zoo.export.core import SERVING_SIGNATURE, checked, checked_shapes, portable_copy, write_export
from zoo.export.tflite import freeze_to_tflite

# Caps, so that one request cannot hold a server for long.
MAX_GENERATED_CHARACTERS = 10_000
MAX_PRIME_CHARACTERS = 10_000
MAX_SAMPLED_POINTS = 5_000

# The step inputs of the .tflite cells.
CHARACTER_STEP_INPUT = tf.TensorSpec([1, 1], tf.int32, name="char_id")
POINT_STEP_INPUT = tf.TensorSpec([1, 1, 3], tf.float32, name="point")


def graves_text_generate_function(model, tokenizer, max_length=MAX_GENERATED_CHARACTERS,
                                  max_prime=MAX_PRIME_CHARACTERS):
    """The `generate` signature: prime `text` [batch], `length`, `temperature`, `seed` → generated `text`."""

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([], tf.int32, name="length"),
        tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed")])
    def generate(text, length, temperature, seed):
        text, length, temperature, seed = checked_shapes((text, length, temperature, seed), ([None], [], [], []))
        # Only the prime's last max_prime characters condition the sample: a huge prime costs no more.
        characters = tf.strings.unicode_split(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"),
                                              "UTF-8")
        prime = tokenizer(tf.strings.reduce_join(characters[:, -max_prime:], axis=1))
        empty = tf.where(tf.reduce_all(tf.equal(prime, tokenizer.pad_id), axis=1))[:, 0]
        prime = checked(tf.size(empty) == 0, ["generate: empty prime text at batch index", empty], prime)
        length = checked((length >= 1) & (length <= max_length),
                         [f"generate: length must be in [1, {max_length}], got", length], length)
        temperature = checked(temperature > 0.0, ["generate: temperature must be > 0, got", temperature],
                              temperature)
        ids = model.generate(prime, length, temperature, tf.stack([seed, tf.constant(0, tf.int64)]))
        return {"text": tokenizer.detokenize(ids)}

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


def export_graves_text(model, tokenizer, export_base, tflite=True):
    """Writes a Graves character model to `export_base/<next version>/`; returns that path.

    Signatures `generate` and `serving_default` (the same function);
    `assets.extra/` holds the tokenizer's `characters.json` (the vocabulary:
    id = position) and, with `tflite=True`, `graves_text_step.tflite`.
    """
    portable = portable_copy(model)
    generate = graves_text_generate_function(portable, tokenizer)
    extra_files = tokenizer.assets()
    if tflite:
        extra_files["graves_text_step.tflite"] = graves_step_tflite(portable, CHARACTER_STEP_INPUT)
    return write_export(export_base, portable, tokenizer.resources, {SERVING_SIGNATURE: generate, "generate": generate},
                        extra_files)


def graves_handwriting_sample_function(model, offset_mean, offset_std, max_steps=MAX_SAMPLED_POINTS):
    """The `sample` signature: `steps`, `bias`, `seed` → `strokes` [steps, 3] in the data's units.

    The model samples normalised offsets; they are scaled back with the
    training set's mean and standard deviation of (Δx, Δy).
    """
    scale = tf.constant([*offset_std, 1.0], tf.float32)
    shift = tf.constant([*offset_mean, 0.0], tf.float32)

    @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="steps"), tf.TensorSpec([], tf.float32, name="bias"),
                                  tf.TensorSpec([], tf.int64, name="seed")])
    def sample(steps, bias, seed):
        steps, bias, seed = checked_shapes((steps, bias, seed), ([], [], []))
        steps = checked((steps >= 1) & (steps <= max_steps),
                        [f"sample: steps must be in [1, {max_steps}], got", steps], steps)
        bias = checked(bias >= 0.0, ["sample: bias must be >= 0, got", bias], bias)
        strokes = model.sample(steps, bias, tf.stack([seed, tf.constant(0, tf.int64)]))
        return {"strokes": strokes * scale + shift}

    return sample


def export_graves_handwriting(model, offset_mean, offset_std, export_base, tflite=True):
    """Writes a Graves handwriting model to `export_base/<next version>/`; returns that path.

    Signatures `sample` and `serving_default` (the same function);
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
    return write_export(export_base, portable, [], {SERVING_SIGNATURE: sample, "sample": sample}, extra_files)
