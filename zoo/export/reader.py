"""Reading an export back: its version directory, its `zoo.json`, its tokenizer, its model with the export's weights.

What `zoo.load` and a recipe's `--init_from` share: the export is the one
artifact, for serving and for fine-tuning, and no second copy of the
weights exists.
"""

import json
import os
import re

import tensorflow as tf

from zoo import registry, text
from zoo.export.core import EXTRA_DIR, FORMAT_VERSION, METADATA_FILE


class ExportError(ValueError):
    """A path that cannot be read as a zoo export; the message names the path and the cause."""


def version_dir(path):
    """`path` if it holds a SavedModel, else its newest integer version (TF Serving's `<base>/<version>/`)."""
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        raise ExportError(f"{path}: no such directory")
    versions = [name for name in os.listdir(path)
                if re.fullmatch(r"\d+", name) and os.path.isfile(os.path.join(path, name, "saved_model.pb"))]
    if not versions:
        raise ExportError(f"{path}: not an export: no saved_model.pb in it nor in a version directory <n>/")
    return os.path.join(path, max(versions, key=int))


def read_metadata(path):
    """The `zoo.json` of the version directory `path`, checked: a format this code reads, a known family and class."""
    file = os.path.join(path, EXTRA_DIR, METADATA_FILE)
    try:
        with open(file, encoding="utf-8") as f:
            metadata = json.load(f)
    except FileNotFoundError:
        raise ExportError(f"{path}: not a zoo export: no {EXTRA_DIR}/{METADATA_FILE}") from None
    except (OSError, ValueError) as e:
        raise ExportError(f"{path}: unreadable {EXTRA_DIR}/{METADATA_FILE}: {e}") from None
    version = metadata.get("format_version") if isinstance(metadata, dict) else None
    if not isinstance(version, int):
        raise ExportError(f"{path}: {EXTRA_DIR}/{METADATA_FILE} has no integer format_version")
    if version > FORMAT_VERSION:
        raise ExportError(f"{path}: written in export format {version}; this zoo reads up to {FORMAT_VERSION}: "
                          "upgrade seq2seq-zoo")
    if metadata.get("family") not in registry.FAMILIES:
        raise ExportError(f"{path}: unknown model family {metadata.get('family')!r}; this zoo knows "
                          f"{', '.join(registry.FAMILIES)}")
    try:
        registry.by_class(metadata.get("class_name"))
    except KeyError as e:
        raise ExportError(f"{path}: {e.args[0]}") from None
    return metadata


def read_tokenizer(path, metadata):
    """The tokenizer whose files the export carries, or None for a family without one."""
    if metadata.get("tokenizer") is None:
        return None
    return getattr(text, metadata["tokenizer"]).load(os.path.join(path, EXTRA_DIR))


def read_json(path, name):
    """`assets.extra/<name>` of the export at `path`, parsed."""
    with open(os.path.join(path, EXTRA_DIR, name), encoding="utf-8") as f:
        return json.load(f)


def rebuild_model(metadata, variables):
    """The Keras model of `metadata` (`read_metadata`), built from its config, its weights set to `variables`.

    `variables` are the export's, in the order the export listed the model's
    (`tf.saved_model.load(path).variables_list`); each must match the rebuilt
    model's variable of the same place in shape.
    """
    model_class = registry.by_class(metadata["class_name"]).model_class
    model = model_class.from_config(metadata["config"])
    model(model.example_input())
    _assign(model, variables, "the export")
    return model


def _assign(model, variables, source):
    """Sets `model`'s variables to `variables`, in order; `ExportError` where their count or a shape differs."""
    if len(model.variables) != len(variables):
        raise ExportError(f"{source} holds {len(variables)} variables, the model has {len(model.variables)}: "
                          "built with other sizes")
    for mine, stored in zip(model.variables, variables):
        if tuple(mine.shape) != tuple(stored.shape):
            raise ExportError(f"variable {mine.path} is {tuple(stored.shape)} in {source}, {tuple(mine.shape)} in "
                              "the model: built with other sizes")
    for mine, stored in zip(model.variables, variables):
        mine.assign(stored)


def load_saved_model(path):
    """`tf.saved_model.load` of the version directory `path`, with the tensorflow-text ops registered."""
    import tensorflow_text  # noqa: F401 (the translators' SentencePiece ops)

    try:
        return tf.saved_model.load(path)
    except (OSError, ValueError, IndexError, tf.errors.OpError) as e:  # IndexError: a truncated variables file
        raise ExportError(f"{path}: cannot load the SavedModel (damaged or incomplete files): "
                          f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}") from None


class Export:
    """An export read back: its version directory, `zoo.json`, tokenizer and weights (the SavedModel loads lazily).

    `path` is an export directory (`savedmodels/<name>`: its newest version)
    or a version directory.
    """

    def __init__(self, path):
        self.path = version_dir(path)
        self.metadata = read_metadata(self.path)
        self._saved_model = None

    @property
    def saved_model(self):
        if self._saved_model is None:
            self._saved_model = load_saved_model(self.path)
        return self._saved_model

    @property
    def tokenizer(self):
        return read_tokenizer(self.path, self.metadata)

    def json(self, name):
        """`assets.extra/<name>`, parsed."""
        return read_json(self.path, name)

    def offset_statistics(self):
        """(mean, std) of the pen offsets the handwriting model learnt on (`normalisation.json`)."""
        saved = self.json("normalisation.json")
        return saved["offset_mean"], saved["offset_std"]

    def copy_weights_to(self, model):
        """Sets the built `model`'s weights to the export's; `ExportError` where the two do not match."""
        if type(model).__name__ != self.metadata["class_name"]:
            raise ExportError(f"{self.path}: holds a {self.metadata['class_name']}, not a {type(model).__name__}")
        _assign(model, self.saved_model.variables_list, self.path)
