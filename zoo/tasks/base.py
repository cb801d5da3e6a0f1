"""`Task`: what every family's task shares: the export's path, metadata, signatures, tokenizer and Keras model."""

import tensorflow as tf

from zoo.export import reader


class Task:
    """An export, loaded: its signatures called with plain Python values, its Keras model built on demand.

    A subclass serves one family of `zoo.registry.FAMILIES` (`family`);
    `zoo.load` picks it from the export's `zoo.json`. Every method runs the
    export's own signatures, exactly what TF Serving serves.

    Args:
        path: an export directory (`savedmodels/<name>`: its newest integer
            version is loaded) or a version directory.

    Attributes:
        path: the version directory loaded.
        metadata: its `assets.extra/zoo.json` (format version, family, model class and config, tokenizer).
        signatures: the SavedModel's signatures, by name.
        tokenizer: the tokenizer the export's files rebuild (`zoo.text`), or None.

    Raises:
        ExportError: the path is not an export of this task's family (or of
            a format this code reads).
    """

    family = None

    def __init__(self, path):
        export = reader.Export(path)
        self.path, self.metadata = export.path, export.metadata
        if self.metadata["family"] != self.family:
            raise reader.ExportError(f"{self.path}: a {self.metadata['family']} export, not {self.family} "
                                     f"(zoo.load picks the task of an export's family)")
        self._saved_model = export.saved_model
        self.signatures = self._saved_model.signatures
        self.tokenizer = export.tokenizer
        self._model = None

    @property
    def model(self):
        """The Keras model of the export's config, holding the export's weights; built on first use."""
        if self._model is None:
            self._model = reader.rebuild_model(self.metadata, self._saved_model.variables_list)
        return self._model

    def __repr__(self):
        return f"{type(self).__name__}({self.path!r}, {self.metadata['class_name']})"

    def _call(self, signature, shared=(), **inputs):
        """The signature's outputs (NumPy) on `inputs` (Python values, made tensors of the signature's dtypes).

        A check of the whole request failing in the export (INVALID_ARGUMENT)
        raises ValueError with the export's message, as does a row refused for
        an input named in `shared`: one the task gives every row alike (a
        temperature, a bias), so that the call, not a row, was wrong.
        """
        function = self.signatures[signature]
        specs = function.structured_input_signature[1]
        try:
            outputs = function(**{name: tf.constant(value, specs[name].dtype) for name, value in inputs.items()})
        except tf.errors.InvalidArgumentError as e:
            raise ValueError(_export_message(e)) from None
        for error in outputs["error"].numpy() if shared and "error" in outputs else ():
            if error.decode("utf-8").split(" ", 1)[0] in shared:
                raise ValueError(f"{signature}: {error.decode('utf-8')}")
        return {name: value.numpy() for name, value in outputs.items()}


def _export_message(error):
    """The message of an export's failed check, from below "Graph execution error:" and the node names.

    `tf.debugging.Assert` prints each of its items in brackets: "assertion
    failed: [beam_search: beam_size must be in [1, 16], got] [0 0]" reads
    "beam_search: beam_size must be in [1, 16], got 0 0".
    """
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("assertion failed:"):
            return " ".join(line.removeprefix("assertion failed:").strip()[1:-1].split("] ["))
    return lines[0] if lines else type(error).__name__


def rows(texts):
    """(`texts` as a list of str, whether a single str was given): the tasks take one text or a list."""
    if isinstance(texts, str):
        return [texts], True
    texts = list(texts)
    if not all(isinstance(text, str) for text in texts):
        raise TypeError("expected a str or a list of str")
    return texts, False


def decoded(value):
    """A signature's string output (bytes) as str."""
    return value.decode("utf-8", "replace")
