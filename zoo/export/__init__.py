"""Exports: SavedModels in TF Serving's `<base>/<version>/` layout, and TFLite.

A SavedModel's signatures take raw `tf.string` text (or numbers) and return
labels, scores, text or strokes: tokenisation and decoding run inside the
graph, so TF Serving or a plain `tf.saved_model.load` needs nothing of this
package. Beside the graph, `assets.extra/` carries the tokenizer's files and
the `.tflite` conversion.

- `core`: versions, the atomic publish, the float32 `portable_copy`, input checks;
- `tflite`: freezing and conversion (and quantisation), converted tensors' names;
- `han`, `graves`, `synthesis`, `translation`: each model family's
  signatures, `.tflite` graph and `export_*` function.
"""

from zoo.export.core import (EXTRA_DIR, SERVING_SIGNATURE, check_writable, next_version, portable_copy,
                             write_export)
from zoo.export.graves import (CHARACTER_STEP_INPUT, MAX_BIAS, MAX_GENERATED_CHARACTERS, MAX_PRIME_CHARACTERS,
                               MAX_SAMPLED_POINTS, MAX_SCORED_POINTS, POINT_STEP_INPUT, export_graves_handwriting,
                               export_graves_text, graves_step_tflite)
from zoo.export.han import HAN_TFLITE_OUTPUTS, export_han, han_to_tflite
from zoo.export.synthesis import MAX_TEXT_CHARACTERS, export_synthesis, synthesis_step_tflite
from zoo.export.tflite import freeze_to_tflite, tflite_input_name, tflite_outputs
from zoo.export.translation import (MAX_BEAM_SIZE, TRANSLATION_TFLITE_OUTPUTS, export_translation,
                                    translation_functions, translation_to_tflite)

__all__ = ["CHARACTER_STEP_INPUT", "EXTRA_DIR", "HAN_TFLITE_OUTPUTS", "MAX_BEAM_SIZE", "MAX_BIAS",
           "MAX_GENERATED_CHARACTERS", "MAX_PRIME_CHARACTERS", "MAX_SAMPLED_POINTS", "MAX_SCORED_POINTS",
           "MAX_TEXT_CHARACTERS", "POINT_STEP_INPUT",
           "SERVING_SIGNATURE", "TRANSLATION_TFLITE_OUTPUTS", "check_writable", "export_graves_handwriting",
           "export_graves_text", "export_han",
           "export_synthesis", "export_translation", "freeze_to_tflite", "graves_step_tflite", "han_to_tflite",
           "next_version", "portable_copy", "synthesis_step_tflite", "tflite_input_name", "tflite_outputs",
           "translation_functions", "translation_to_tflite", "write_export"]
