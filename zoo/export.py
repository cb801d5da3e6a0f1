"""Exports: SavedModels in TF Serving's `<base>/<version>/` layout, and TFLite.

A SavedModel's `serving_default` signature takes raw `tf.string` text and
returns labels, scores and attention: tokenisation runs inside the graph, so
TF Serving or a plain `tf.saved_model.load` needs nothing of this package.

Exports are written to a hidden temp directory beside the versions and
renamed to the next free integer version only when complete, so TF Serving,
which only loads integer-named directories, never sees a half-written model,
and no existing version is ever overwritten.

TFLite: tensorflow-text's TFLite kernels cover wordpiece/sentencepiece
tokenisers but not the regex sentence and word splitting or the case folding
the HAN tokeniser uses, and the Python interpreter of TF 2.21 has no Flex
delegate for Select TF ops; so the HAN `.tflite` takes word ids
`[1, max_sentences, max_words]` (int32, 0 = padding), with `vocab.txt`,
`labels.txt` and `tokenizer.json` beside it. It is converted from a concrete
function with a static batch of 1 whose variables are frozen to constants
(TFLite cannot read resource variables inside the GRUs' while loops).
"""

import errno
import json
import os
import re
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

SERVING_SIGNATURE = "serving_default"
EXTRA_DIR = "assets.extra"  # SavedModel's place for files the graph does not use.
_HAN_SAMPLE = np.ones((1, 1, 1), np.int32)


def next_version(export_base):
    """The next free TF Serving version number under `export_base` (1 if none)."""
    if not os.path.isdir(export_base):
        return 1
    versions = [int(name) for name in os.listdir(export_base) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1


def check_writable(export_base):
    """Raises `PermissionError` with a one-line message if exports cannot be written there."""
    try:
        os.makedirs(export_base, exist_ok=True)
        tempfile.TemporaryFile(dir=export_base).close()
    except OSError as e:
        raise PermissionError(f"cannot write exports to {export_base}: {e.strerror or e}") from e


def portable_copy(model, sample_input):
    """A copy of `model` whose RNNs never use CuDNN kernels, so its graph runs on any CPU.

    `sample_input` is any valid input; calling the copy on it creates its weights.
    """
    copy = type(model).from_config({**model.get_config(), "use_cudnn": False})
    copy(sample_input)
    copy.set_weights(model.get_weights())
    return copy


def han_serving_function(model, tokenizer, class_names):
    """The serving signature of a HAN: raw documents in, labels and attention out."""
    class_names = tf.constant(list(class_names), tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        words = tokenizer.split(text)
        word_ids = tokenizer.to_ids(words)
        num_words = tf.reduce_sum(tf.cast(word_ids > 0, tf.int32), axis=[1, 2])
        tf.debugging.Assert(
            tf.reduce_all(num_words > 0),
            ["serving_default: empty document (no word after tokenisation) at batch index",
             tf.where(num_words == 0)[:, 0]],
        )
        probabilities, word_attention, sentence_attention = model(word_ids, return_attention=True)
        return {
            "label": tf.gather(class_names, tf.argmax(probabilities, axis=-1)),
            "probabilities": probabilities,
            "word_attention": word_attention,
            "sentence_attention": sentence_attention,
            "words": tokenizer.pad(words, ""),
        }

    return serve


def _serving_root(model, resources, signatures):
    """What `tf.saved_model.save` writes: variables, resources and signatures, not the Keras model.

    As in keras.export.ExportArchive: a SavedModel holding the Keras model object
    reloads in Python but not in TF Serving's session loader, which then fails
    with "Could not find variable" (keras-team/keras#20095); listing the
    variables on a plain trackable avoids that. Lookup tables must be tracked
    too, or saving fails on an untracked resource.
    """
    root = tf.Module()
    root.variables_list = [v.value for v in model.variables]  # the tf.Variables, not Keras wrappers
    root.resources = list(resources)
    for name, function in signatures.items():
        setattr(root, name, function)
    return root


def han_to_tflite(model, max_sentences, max_words):
    """Converts a HAN to a TFLite flatbuffer taking word ids `[1, max_sentences, max_words]`."""
    portable = portable_copy(model, _HAN_SAMPLE)

    @tf.function(input_signature=[tf.TensorSpec([1, max_sentences, max_words], tf.int32, name="word_ids")])
    def classify(word_ids):
        return portable(word_ids, return_attention=True)

    return freeze_to_tflite(classify, portable)


def run_han_tflite(model_content, word_ids):
    """Runs a `han_to_tflite` flatbuffer on word ids `[1, S, W]`; returns a dict of its outputs."""
    return dict(zip(HAN_TFLITE_OUTPUTS, run_tflite(model_content, {"word_ids": word_ids})))


# A frozen concrete function's outputs convert to tensors named by position
# (Identity, Identity_1, ... or PartitionedCall:0, :1, ...), in the order it returns them.
HAN_TFLITE_OUTPUTS = ("probabilities", "word_attention", "sentence_attention")


def freeze_to_tflite(function, trackable):
    """Converts a `tf.function` with a static input signature to TFLite, variables frozen to constants."""
    frozen = convert_to_constants.convert_variables_to_constants_v2(function.get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], trackable).convert()


def run_tflite(model_content, inputs):
    """Runs a flatbuffer of `freeze_to_tflite` on `{input name: array}`; returns its outputs in order."""
    interpreter = tf.lite.Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        # With several inputs the converter names them "serving_default_<name>:0".
        name = re.sub(r"^serving_default_|:\d+$", "", detail["name"])
        interpreter.set_tensor(detail["index"], np.asarray(inputs[name], detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in sorted(interpreter.get_output_details(), key=_output_position)]


def _output_position(detail):
    """Position of a converted output: `Identity`, `Identity_1`, ... or `PartitionedCall:0`, `:1`, ..."""
    match = re.search(r"[_:](\d+)$", detail["name"])
    return int(match.group(1)) if match else 0


def write_export(export_base, portable, resources, signatures, extra_files):
    """Writes a SavedModel and its `assets.extra/` files to `export_base/<next version>/`; returns it.

    Args:
        portable: the model the signatures call (see `portable_copy`).
        resources: lookup tables and other resources the signatures use.
        signatures: `{name: tf.function}`; `serving_default` is TF Serving's default.
        extra_files: `{file name: str or bytes}` written to `assets.extra/`.
    """
    check_writable(export_base)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=export_base)
    try:
        tf.saved_model.save(_serving_root(portable, resources, signatures), tmp, signatures=signatures)
        extra = os.path.join(tmp, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        for name, content in extra_files.items():
            mode, encoding = ("wb", None) if isinstance(content, bytes) else ("w", "utf-8")
            with open(os.path.join(extra, name), mode, encoding=encoding) as f:
                f.write(content)
        return _publish(tmp, export_base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _lines(items):
    return "".join(item + "\n" for item in items)


def export_han(model, tokenizer, class_names, export_base, tflite=True):
    """Writes a HAN SavedModel to `export_base/<next version>/`; returns that path.

    Beside the graph, `assets.extra/` holds `vocab.txt`, `labels.txt`,
    `tokenizer.json` and (with `tflite=True`) `han.tflite`.
    """
    portable = portable_copy(model, _HAN_SAMPLE)
    signatures = {SERVING_SIGNATURE: han_serving_function(portable, tokenizer, class_names)}
    extra_files = {
        "vocab.txt": _lines(tokenizer.vocabulary),
        "labels.txt": _lines(class_names),
        "tokenizer.json": json.dumps({"max_sentences": tokenizer.max_sentences, "max_words": tokenizer.max_words,
                                      "padding_id": 0, "unknown_id": 1}, indent=2),
    }
    if tflite:
        extra_files["han.tflite"] = han_to_tflite(portable, tokenizer.max_sentences, tokenizer.max_words)
    return write_export(export_base, portable, [tokenizer.table], signatures, extra_files)


# Graves 2013 exports: generation caps, so that one request cannot hold a server for long.
MAX_GENERATED_CHARACTERS = 10_000
MAX_PRIME_CHARACTERS = 10_000
MAX_SAMPLED_POINTS = 5_000


def _checked(condition, message, value):
    """An Assert that runs before whatever uses `value`; returns `value`."""
    with tf.control_dependencies([tf.debugging.Assert(condition, message)]):
        return tf.identity(value)


def _checked_shapes(tensors, shapes):
    """The tensors, each checked at run time to have its shape.

    A loaded signature does not check its inputs' shapes against its input
    signature, and elementwise ops take any rank: without this, a `[1, 1]`
    text or a `[1]` length would run, or fail deep inside.
    """
    return [tf.ensure_shape(tensor, shape) for tensor, shape in zip(tensors, shapes)]


def graves_text_generate_function(model, tokenizer, max_length=MAX_GENERATED_CHARACTERS,
                                  max_prime=MAX_PRIME_CHARACTERS):
    """The `generate` signature: prime `text` [batch], `length`, `temperature`, `seed` → generated `text`."""

    @tf.function(input_signature=[
        tf.TensorSpec([None], tf.string, name="text"), tf.TensorSpec([], tf.int32, name="length"),
        tf.TensorSpec([], tf.float32, name="temperature"), tf.TensorSpec([], tf.int64, name="seed")])
    def generate(text, length, temperature, seed):
        text, length, temperature, seed = _checked_shapes((text, length, temperature, seed), ([None], [], [], []))
        # Only the prime's last max_prime characters condition the sample: a huge prime costs no more.
        characters = tf.strings.unicode_split(tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace"),
                                              "UTF-8")
        prime = tokenizer(tf.strings.reduce_join(characters[:, -max_prime:], axis=1))
        empty = tf.where(tf.reduce_all(tf.equal(prime, 0), axis=1))[:, 0]
        prime = _checked(tf.size(empty) == 0, ["generate: empty prime text at batch index", empty], prime)
        length = _checked((length >= 1) & (length <= max_length),
                          [f"generate: length must be in [1, {max_length}], got", length], length)
        temperature = _checked(temperature > 0.0, ["generate: temperature must be > 0, got", temperature],
                               temperature)
        ids = model.generate(prime, length, temperature, tf.stack([seed, tf.constant(0, tf.int64)]))
        return {"text": tokenizer.detokenize(ids)}

    return generate


def graves_step_tflite(model, input_spec):
    """The one-step cell of a Graves model as TFLite, for a device loop.

    Inputs: the step's input (`input_spec`: a character id `[1, 1]` or a pen
    offset `[1, 1, 3]`) and `state_<n>_h`, `state_<n>_c` float32 `[1, units]`
    for each layer n. Outputs, in order: the step's output (character logits
    or ŷ of the mixture density), then the new states in the same order. The
    device feeds each drawn character or point and the states back.
    """
    portable = portable_copy(model, np.zeros(input_spec.shape, input_spec.dtype.as_numpy_dtype))
    state_specs = [tf.TensorSpec([1, model.units], tf.float32, name=f"state_{n}_{part}")
                   for n in range(model.num_layers) for part in "hc"]

    @tf.function(input_signature=[input_spec, *state_specs])
    def step(step_input, *flat_states):
        states = [[flat_states[2 * n], flat_states[2 * n + 1]] for n in range(model.num_layers)]
        output, states = portable(step_input, initial_states=states, return_states=True)
        return (output[:, -1], *[tensor for pair in states for tensor in pair])

    return freeze_to_tflite(step, portable)


CHARACTER_STEP_INPUT = tf.TensorSpec([1, 1], tf.int32, name="char_id")
POINT_STEP_INPUT = tf.TensorSpec([1, 1, 3], tf.float32, name="point")


def export_graves_text(model, tokenizer, export_base, tflite=True):
    """Writes a Graves character model to `export_base/<next version>/`; returns that path.

    Signatures `generate` and `serving_default` (the same function);
    `assets.extra/` holds `characters.json` (the vocabulary: id = position)
    and, with `tflite=True`, `graves_text_step.tflite`.
    """
    portable = portable_copy(model, np.ones((1, 1), np.int32))
    generate = graves_text_generate_function(portable, tokenizer)
    extra_files = {"characters.json": json.dumps(tokenizer.vocabulary, ensure_ascii=False)}
    if tflite:
        extra_files["graves_text_step.tflite"] = graves_step_tflite(portable, CHARACTER_STEP_INPUT)
    return write_export(export_base, portable, [tokenizer.table], {SERVING_SIGNATURE: generate, "generate": generate},
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
        steps, bias, seed = _checked_shapes((steps, bias, seed), ([], [], []))
        steps = _checked((steps >= 1) & (steps <= max_steps),
                         [f"sample: steps must be in [1, {max_steps}], got", steps], steps)
        bias = _checked(bias >= 0.0, ["sample: bias must be >= 0, got", bias], bias)
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
    portable = portable_copy(model, np.zeros((1, 1, 3), np.float32))
    sample = graves_handwriting_sample_function(portable, offset_mean, offset_std)
    extra_files = {"normalisation.json": json.dumps({"offset_mean": list(map(float, offset_mean)),
                                                     "offset_std": list(map(float, offset_std))})}
    if tflite:
        extra_files["graves_handwriting_step.tflite"] = graves_step_tflite(portable, POINT_STEP_INPUT)
    return write_export(export_base, portable, [], {SERVING_SIGNATURE: sample, "sample": sample}, extra_files)


def _publish(tmp, export_base):
    """Renames a finished export to the next free version; never replaces one."""
    while True:
        target = os.path.join(export_base, str(next_version(export_base)))
        try:
            os.rename(tmp, target)  # atomic; fails if a concurrent export took the number
            return target
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
