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

    frozen = convert_to_constants.convert_variables_to_constants_v2(classify.get_concrete_function())
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen], portable).convert()


# The frozen function's outputs, in the order of its tensors Identity, Identity_1, Identity_2:
# a frozen concrete function converts without a SignatureDef, so outputs go by position.
TFLITE_OUTPUTS = ("probabilities", "word_attention", "sentence_attention")


def run_tflite(model_content, word_ids):
    """Runs a `han_to_tflite` model on word ids `[1, S, W]`; returns a dict of numpy outputs."""
    interpreter = tf.lite.Interpreter(model_content=model_content)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.asarray(word_ids, np.int32))
    interpreter.invoke()
    outputs = sorted(interpreter.get_output_details(), key=lambda d: d["name"])
    return {name: interpreter.get_tensor(d["index"]) for name, d in zip(TFLITE_OUTPUTS, outputs)}


def export_han(model, tokenizer, class_names, export_base, tflite=True):
    """Writes a HAN SavedModel to `export_base/<next version>/`; returns that path.

    Beside the graph, `assets.extra/` holds `vocab.txt`, `labels.txt`,
    `tokenizer.json` and (with `tflite=True`) `han.tflite`.
    """
    check_writable(export_base)
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=export_base)
    try:
        portable = portable_copy(model, _HAN_SAMPLE)
        signatures = {SERVING_SIGNATURE: han_serving_function(portable, tokenizer, class_names)}
        tf.saved_model.save(_serving_root(portable, [tokenizer.table], signatures), tmp, signatures=signatures)
        extra = os.path.join(tmp, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "vocab.txt"), "w", encoding="utf-8") as f:
            f.write("".join(word + "\n" for word in tokenizer.vocabulary))
        with open(os.path.join(extra, "labels.txt"), "w", encoding="utf-8") as f:
            f.write("".join(name + "\n" for name in class_names))
        with open(os.path.join(extra, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump({"max_sentences": tokenizer.max_sentences, "max_words": tokenizer.max_words,
                       "padding_id": 0, "unknown_id": 1}, f, indent=2)
        if tflite:
            with open(os.path.join(extra, "han.tflite"), "wb") as f:
                f.write(han_to_tflite(model, tokenizer.max_sentences, tokenizer.max_words))
        return _publish(tmp, export_base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
