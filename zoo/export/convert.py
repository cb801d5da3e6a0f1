"""An export's `.tflite` graph made again from the export alone: float, or with its weights quantised.

A shipped export may carry the smaller, quantised `.tflite` in `assets.extra/`; the float one (or the other
way round) is then a call away, without the run that trained the model.
"""

from zoo.export import reader
from zoo.export.graves import CHARACTER_STEP_INPUT, POINT_STEP_INPUT, graves_step_tflite
from zoo.export.han import han_to_tflite
from zoo.export.synthesis import SYNTHESIS_TFLITE, synthesis_step_tflite
from zoo.export.translation import translation_to_tflite

# The name each family's export gives its `.tflite` in `assets.extra/`.
TFLITE_FILES = {"classification": "han.tflite", "text": "graves_text_step.tflite",
                "handwriting": "graves_handwriting_step.tflite", "synthesis": SYNTHESIS_TFLITE,
                "translation": "translation.tflite"}


def export_tflite(path, quantize=False):
    """The `.tflite` flatbuffer of the export at `path`, as its `export_*` function converts it.

    The model is rebuilt from the export's `zoo.json` and variables; the
    conversion takes the export's own settings (a translator's maximum length,
    beam size, α and β; a classifier's document shape).

    Args:
        path: an export directory (its newest version) or a version directory.
        quantize: dynamic-range quantisation (int8 weights, float activations;
            see `freeze_to_tflite`).

    Returns:
        The flatbuffer's bytes; `TFLITE_FILES[family]` is the name the export
        gives it.

    Raises:
        ExportError: `path` is not a readable export.
    """
    export = reader.Export(path)
    family = export.metadata["family"]
    model = reader.rebuild_model(export.metadata, export.saved_model.variables_list)
    if family == "translation":
        settings = export.json("translation.json")
        return translation_to_tflite(model, export.tokenizer, settings["max_length"], settings["beam_size"],
                                     settings["alpha"], settings["beta"], quantize=quantize)
    if family == "classification":
        tokenizer = export.tokenizer
        return han_to_tflite(model, tokenizer.max_sentences, tokenizer.max_words, quantize=quantize)
    if family == "synthesis":
        return synthesis_step_tflite(model, *export.offset_statistics(), quantize=quantize)
    return graves_step_tflite(model, CHARACTER_STEP_INPUT if family == "text" else POINT_STEP_INPUT,
                              quantize=quantize)
