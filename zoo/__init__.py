"""seq2seq-zoo: sequence models of the seq2seq family, trained by recipes and exported for TF Serving and TFLite.

An export's task: `zoo.load(path)` (see `zoo.tasks`); on the command line, `python -m zoo`.
`import zoo` stays cheap: TensorFlow is imported on first use of the tasks.
"""

import importlib

__version__ = "0.1.0"

# Names of `zoo.tasks`, imported on first use.
_TASK_NAMES = ("Alignment", "Classification", "DocumentClassifier", "ExportError", "Generation", "Handwriting",
               "HandwritingModel", "HandwritingWriter", "Task", "TextGenerator", "Translation", "TranslationScore",
               "Translator", "load")


def __getattr__(name):
    if name in _TASK_NAMES:
        return getattr(importlib.import_module("zoo.tasks"), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_TASK_NAMES])
