"""TFLite conversion every model family shares: freeze, convert, quantise; how converted tensors are named.

TFLite cannot read resource variables inside while loops (the RNNs'), so a
graph is converted from a concrete function with a static batch whose
variables are frozen to constants. The Python LiteRT interpreter has no Flex
delegate for Select TF ops: every op must be a TFLite builtin, or one of
tensorflow-text's custom ops (`custom_ops=True`), which LiteRT's
`InterpreterWithCustomOps` runs with `tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`.
"""

import re

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants


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


def tflite_input_name(detail):
    """The name of a converted input as the `tf.function` spelled it (an interpreter's input detail)."""
    # With several inputs the converter names them "serving_default_<name>:0".
    return re.sub(r"^serving_default_|:\d+$", "", detail["name"])


def tflite_outputs(interpreter):
    """An interpreter's output details in the order the converted function returned them.

    The converter's signature names the outputs `output_<position>`; the
    tensors' own names (`PartitionedCall:<k>`, `Identity_<k>`) need not follow
    that order (the synthesis cell's do not).
    """
    outputs = interpreter.get_signature_runner().get_output_details()
    return [outputs[name] for name in sorted(outputs, key=lambda name: int(name.rsplit("_", 1)[1]))]
