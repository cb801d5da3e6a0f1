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

import keras
import numpy as np
import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from zoo import decoding

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
    """A float32 copy of `model` whose RNNs never use CuDNN kernels, so its graph runs on any CPU.

    `sample_input` is any valid input; calling the copy on it creates its weights.
    """
    config = model.get_config()
    if "use_cudnn" in config:  # models whose RNNs can never use CuDNN (e.g. reset-before GRUs) lack the option
        config["use_cudnn"] = False
    # A model trained with mixed precision exports in float32: its variables are float32 already, and
    # float16 compute is slower or unsupported on the CPUs that serve it. Layers take the global policy.
    config["dtype"] = "float32"
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = type(model).from_config(config)
    finally:
        keras.config.set_dtype_policy(policy)
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


def han_to_tflite(model, max_sentences, max_words, quantize=False):
    """Converts a HAN to a TFLite flatbuffer taking word ids `[1, max_sentences, max_words]`.

    `quantize`: dynamic-range quantisation (see `freeze_to_tflite`).
    """
    portable = portable_copy(model, _HAN_SAMPLE)

    @tf.function(input_signature=[tf.TensorSpec([1, max_sentences, max_words], tf.int32, name="word_ids")])
    def classify(word_ids):
        return portable(word_ids, return_attention=True)

    return freeze_to_tflite(classify, portable, quantize=quantize)


def run_han_tflite(model_content, word_ids):
    """Runs a `han_to_tflite` flatbuffer on word ids `[1, S, W]`; returns a dict of its outputs."""
    return dict(zip(HAN_TFLITE_OUTPUTS, run_tflite(model_content, {"word_ids": word_ids})))


# A frozen concrete function's outputs convert to tensors named by position
# (Identity, Identity_1, ... or PartitionedCall:0, :1, ...), in the order it returns them.
HAN_TFLITE_OUTPUTS = ("probabilities", "word_attention", "sentence_attention")


def freeze_to_tflite(function, trackable, custom_ops=False, quantize=False):
    """Converts a `tf.function` with a static input signature to TFLite, variables frozen to constants.

    `custom_ops` lets tensorflow-text's tokeniser ops through as custom ops.
    `quantize` applies dynamic-range quantisation: weight matrices stored as
    int8 (a quarter of their float size; the converter leaves those under
    1,024 entries in float), activations float; the interpreter quantises them
    on the fly for the large matrix products.
    """
    frozen = convert_to_constants.convert_variables_to_constants_v2(function.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen], trackable)
    converter.allow_custom_ops = custom_ops
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def run_tflite(model_content, inputs):
    """Runs a flatbuffer of `freeze_to_tflite` on `{input name: array}`; returns its outputs in order."""
    interpreter = tf.lite.Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.asarray(inputs[tflite_input_name(detail)], detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"])
            for d in sorted(interpreter.get_output_details(), key=tflite_output_position)]


def tflite_input_name(detail):
    """The name of a converted input as the `tf.function` spelled it (the interpreter's input detail)."""
    # With several inputs the converter names them "serving_default_<name>:0".
    return re.sub(r"^serving_default_|:\d+$", "", detail["name"])


def tflite_output_position(detail):
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


def graves_step_tflite(model, input_spec, quantize=False):
    """The one-step cell of a Graves model as TFLite, for a device loop.

    Inputs: the step's input (`input_spec`: a character id `[1, 1]` or a pen
    offset `[1, 1, 3]`) and `state_<n>_h`, `state_<n>_c` float32 `[1, units]`
    for each layer n. Outputs, in order: the step's output (character logits
    or ŷ of the mixture density), then the new states in the same order. The
    device feeds each drawn character or point and the states back.
    `quantize`: dynamic-range quantisation (see `freeze_to_tflite`).
    """
    portable = portable_copy(model, np.zeros(input_spec.shape, input_spec.dtype.as_numpy_dtype))
    state_specs = [tf.TensorSpec([1, model.units], tf.float32, name=f"state_{n}_{part}")
                   for n in range(model.num_layers) for part in "hc"]

    @tf.function(input_signature=[input_spec, *state_specs])
    def step(step_input, *flat_states):
        states = [[flat_states[2 * n], flat_states[2 * n + 1]] for n in range(model.num_layers)]
        output, states = portable(step_input, initial_states=states, return_states=True)
        return (output[:, -1], *[tensor for pair in states for tensor in pair])

    return freeze_to_tflite(step, portable, quantize=quantize)


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


# Translation exports (Sutskever, Cho, GNMT): caps, so that one request cannot hold a server for long.
MAX_BEAM_SIZE = 16
_TEXT = tf.TensorSpec([None], tf.string, name="text")


def _source_ids(tokenizer, text, max_length, signature):
    """Raw text `[batch]` → source piece ids `[batch, <= max_length]`, 0-padded; an empty source is an error.

    A source longer than `max_length` pieces is cut to its first `max_length`.
    """
    pieces = tokenizer(_checked_shapes((text,), ([None],))[0])
    lengths = pieces.row_lengths()
    empty = tf.where(tf.equal(lengths, 0))[:, 0]
    ids = pieces[:, :max_length].to_tensor(0)
    ids = tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])  # keep a time axis for an empty batch
    return _checked(tf.size(empty) == 0, [f"{signature}: empty source text (no word piece) at batch index", empty],
                    ids)


def translation_step(model, tokenizer):
    """The model's `decode_step` with padding and START ruled out, renormalised.

    Training never targets them, so they are improbable but not impossible;
    a decoder that emitted one would write nothing or start over.
    """
    never = tf.reduce_sum(tf.one_hot([0, tokenizer.start_id], model.vocabulary_size, on_value=-1e9), axis=0)

    def step(tokens, state):
        log_probs, state, attention = model.decode_step(tokens, state)
        return tf.nn.log_softmax(log_probs + never), state, attention

    return step


def translation_functions(model, tokenizer, max_length, beam_size=4, alpha=0.6, beta=0.2):
    """The serving signatures of a translation model (`encode` / `decode_step`, see `zoo.decoding`).

    - `serving_default`: `text` → `translation`, `score` (beam search with
      the given `beam_size`, `alpha`, `beta`), and `attention`
      `[batch, target, source]` for a model with attention;
    - `beam_search`: `text`, `beam_size` (1 to MAX_BEAM_SIZE), `alpha`, `beta`
      (finite, >= 0) → the n-best `translations` `[batch, beam]`, `scores`,
      (`attention` `[batch, beam, target, source]`); empty slots (fewer
      hypotheses than beams) are "" with score -inf;
    - `greedy`: `text` → `translation`, `score` (the log-probability).

    Sources are cut to `max_length` word pieces; translations end at `<eos>`
    or after `max_length` pieces.
    """

    step = translation_step(model, tokenizer)

    def search(text, size, a, b, signature):
        source = _source_ids(tokenizer, text, max_length, signature)
        return decoding.beam_search(step, model.encode(source), tokenizer.start_id, tokenizer.end_id, max_length, size,
                                    a, b, source_mask=tf.not_equal(source, 0))

    @tf.function(input_signature=[_TEXT])
    def translate(text):
        out = search(text, beam_size, alpha, beta, SERVING_SIGNATURE)
        result = {"translation": tokenizer.detokenize(out["ids"][:, 0]), "score": out["scores"][:, 0]}
        if "attention" in out:
            result["attention"] = out["attention"][:, 0]
        return result

    @tf.function(input_signature=[_TEXT, tf.TensorSpec([], tf.int32, name="beam_size"),
                                  tf.TensorSpec([], tf.float32, name="alpha"),
                                  tf.TensorSpec([], tf.float32, name="beta")])
    def beam_search(text, beam_size, alpha, beta):
        beam_size, alpha, beta = _checked_shapes((beam_size, alpha, beta), ([], [], []))
        beam_size = _checked((beam_size >= 1) & (beam_size <= MAX_BEAM_SIZE),
                             [f"beam_search: beam_size must be in [1, {MAX_BEAM_SIZE}], got", beam_size], beam_size)
        alpha = _checked(tf.math.is_finite(alpha) & (alpha >= 0.0),
                         ["beam_search: alpha must be finite and >= 0, got", alpha], alpha)
        beta = _checked(tf.math.is_finite(beta) & (beta >= 0.0),
                        ["beam_search: beta must be finite and >= 0, got", beta], beta)
        out = search(text, beam_size, alpha, beta, "beam_search")
        shape = tf.shape(out["ids"])
        flat = tokenizer.detokenize(tf.reshape(out["ids"], [-1, shape[2]]))
        result = {"translations": tf.reshape(flat, shape[:2]), "scores": out["scores"]}
        if "attention" in out:
            result["attention"] = out["attention"]
        return result

    @tf.function(input_signature=[_TEXT])
    def greedy(text):
        source = _source_ids(tokenizer, text, max_length, "greedy")
        out = decoding.greedy(step, model.encode(source), tokenizer.start_id, tokenizer.end_id, max_length)
        return {"translation": tokenizer.detokenize(out["ids"]), "score": out["log_prob"]}

    return {SERVING_SIGNATURE: translate, "beam_search": beam_search, "greedy": greedy}


def translation_to_tflite(model, tokenizer, max_length, quantize=False):
    """Greedy translation of one sentence as TFLite: `text` string `[1]` → `ids` int32 `[1, max_length]`, `score`.

    The wordpiece tokeniser runs as tensorflow-text's TFLite custom op (run
    it with `InterpreterWithCustomOps` and `tensorflow_text.tflite_registrar.
    SELECT_TFTEXT_OPS`); `ids` are 0 after the END id (3); the device turns
    them into text with `vocab.txt` (id = line number; a piece starting with
    `##` joins the previous one). The converter cannot lower `zoo.decoding`'s
    loops (their TensorArrays grow with the output), so this greedy loop
    writes into a fixed `[1, max_length]` tensor instead, and the source is
    padded to `max_length` so every shape is static. `quantize`: dynamic-range
    quantisation (see `freeze_to_tflite`).
    """

    @tf.function(input_signature=[tf.TensorSpec([1], tf.string, name="text")])
    def translate(text):
        # The tokeniser's own UTF-8 repair (and lower-casing) has no TFLite kernel: the device sends valid
        # UTF-8 (lower-cased if translation.json says so); FastWordpiece is tensorflow-text's custom op.
        # One sentence: its pieces are the ragged result's flat values (ragged ops have no TFLite kernels).
        pieces = tokenizer.wordpiece.tokenize(text).flat_values[:max_length]
        source = tf.pad(pieces, [[0, max_length - tf.shape(pieces)[0]]])[None]
        start = tf.fill([1], tokenizer.start_id)
        decode_step = translation_step(model, tokenizer)

        def step(t, token, state, ids, score, done):
            log_probs, state, _ = decode_step(token, state)
            token = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
            score += tf.reduce_max(log_probs, axis=-1)
            ids = tf.tensor_scatter_nd_update(ids, [[0, t]], token)
            return t + 1, token, state, ids, score, token[0] == tokenizer.end_id

        _, _, _, ids, score, _ = tf.while_loop(
            lambda t, *rest: (t < max_length) & tf.logical_not(rest[-1]), step,
            (tf.constant(0), start, model.encode(source), tf.zeros([1, max_length], tf.int32), tf.zeros([1]),
             tf.constant(False)))
        return ids, score

    return freeze_to_tflite(translate, model, custom_ops=True, quantize=quantize)


def export_translation(model, tokenizer, export_base, max_length, beam_size=4, alpha=0.6, beta=0.2, tflite=True):
    """Writes a translation model to `export_base/<next version>/`; returns that path.

    Signatures: see `translation_functions`. `assets.extra/` holds
    `vocab.txt` (the shared wordpiece vocabulary), `translation.json` (limits
    and defaults) and, with `tflite=True`, `translation.tflite`.
    """
    sample = np.array([[tokenizer.start_id]], np.int32)
    portable = portable_copy(model, (sample, sample))
    signatures = translation_functions(portable, tokenizer, max_length, beam_size, alpha, beta)
    extra_files = {
        "vocab.txt": _lines(tokenizer.vocabulary),
        "translation.json": json.dumps({"max_length": max_length, "lower_case": tokenizer.lower_case,
                                        "beam_size": beam_size, "alpha": alpha,
                                        "beta": beta, "max_beam_size": MAX_BEAM_SIZE, "padding_id": 0,
                                        "unknown_id": 1, "start_id": tokenizer.start_id,
                                        "end_id": tokenizer.end_id}, indent=2),
    }
    if tflite:
        extra_files["translation.tflite"] = translation_to_tflite(portable, tokenizer, max_length)
    return write_export(export_base, portable, [tokenizer], signatures, extra_files)
