"""HAN exports: raw documents in, labels and attention out; the `.tflite` takes word ids.

tensorflow-text's TFLite kernels cover wordpiece/sentencepiece tokenisers but
not the regex sentence and word splitting or the case folding the HAN
tokeniser uses, and LiteRT has no Flex delegate; so `han.tflite` takes word
ids `[1, max_sentences, max_words]` (int32, 0 = padding), with `vocab.txt`,
`labels.txt` and `tokenizer.json` beside it. Its outputs, in order:
`HAN_TFLITE_OUTPUTS`.
"""

import tensorflow as tf

from zoo.export.core import SERVING_SIGNATURE, portable_copy, row_status, served_rows, write_export
from zoo.export.tflite import freeze_to_tflite

# A frozen concrete function's outputs convert to tensors named by position
# (Identity, Identity_1, ... or PartitionedCall:0, :1, ...), in the order it returns them.
HAN_TFLITE_OUTPUTS = ("probabilities", "word_attention", "sentence_attention")


EMPTY_DOCUMENT = "empty document (no word after tokenisation)"


def han_serving_function(model, tokenizer, class_names):
    """The `serving_default` signature: `text` [batch] → `label`, `probabilities`, attention, `words`, row status.

    A document without a word (empty, white space, markup or control
    characters only) is not `valid` (`row_status`, `error` "empty document
    (no word after tokenisation)"): its label is "", its probabilities and
    attention 0; the documents beside it are classified as they would be alone.
    """
    class_names = tf.constant(list(class_names), tf.string)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        words = tokenizer.split(text)
        word_ids = tokenizer.to_ids(words)
        status = row_status(tf.reduce_any(word_ids != tokenizer.pad_id, axis=[1, 2]), EMPTY_DOCUMENT)
        probabilities, word_attention, sentence_attention = model(word_ids, return_attention=True)
        return served_rows(status, {
            "label": tf.gather(class_names, tf.argmax(probabilities, axis=-1)),
            "probabilities": probabilities,
            "word_attention": word_attention,
            "sentence_attention": sentence_attention,
        }) | {"words": tokenizer.pad(words, "")}

    return serve


def han_to_tflite(model, max_sentences, max_words, quantize=False):
    """Converts a HAN to a TFLite flatbuffer taking word ids `[1, max_sentences, max_words]`.

    Outputs, in order: `HAN_TFLITE_OUTPUTS`. `quantize`: dynamic-range
    quantisation (see `freeze_to_tflite`).
    """
    portable = portable_copy(model)

    @tf.function(input_signature=[tf.TensorSpec([1, max_sentences, max_words], tf.int32, name="word_ids")])
    def classify(word_ids):
        return portable(word_ids, return_attention=True)

    return freeze_to_tflite(classify, portable, quantize=quantize)


def export_han(model, tokenizer, class_names, export_base, tflite=True):
    """Writes a HAN SavedModel to `export_base/<next version>/`; returns that path.

    Beside the graph, `assets.extra/` holds the tokenizer's files (`vocab.txt`,
    `tokenizer.json`), `labels.txt` and (with `tflite=True`) `han.tflite`.
    """
    portable = portable_copy(model)
    signatures = {SERVING_SIGNATURE: han_serving_function(portable, tokenizer, class_names)}
    extra_files = {"labels.txt": "".join(name + "\n" for name in class_names)}
    if tflite:
        extra_files["han.tflite"] = han_to_tflite(portable, tokenizer.max_sentences, tokenizer.max_words)
    return write_export(export_base, "classification", portable, signatures, extra_files, tokenizer)
