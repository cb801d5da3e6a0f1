"""`DocumentClassifier`: the task of a classification export (the hierarchical attention network)."""

import os
from typing import NamedTuple

import numpy as np

from zoo.explain import explain_html, explain_png
from zoo.export.core import EXTRA_DIR, SERVING_SIGNATURE
from zoo.tasks.base import Task, decoded, rows


class Classification(NamedTuple):
    """A document's class and why (Yang et al. 2016): its attention over sentences and over each one's words.

    `probabilities` maps each class name to its probability. `words` are
    the document's sentences as the model read them (its tokens, lower-cased,
    cut to its caps), a list of words each; `sentence_attention` float32
    `[len(words)]` weighs the sentences, `word_attention[s]` float32
    `[len(words[s])]` the words of sentence s. A document the export did not
    classify has label "", probabilities 0, no words and its `error`.
    """

    label: str
    probabilities: dict
    words: list
    sentence_attention: np.ndarray
    word_attention: list
    error: str = ""


class DocumentClassifier(Task):
    """Classifies documents with a classification export, and shows why.

    `classify` and `explain` take one document or a list. A document without
    a word (empty, white space or markup only) comes back with its `error`.

    Args:
        path: a classification export (`savedmodels/<name>` or a version directory).

    Attributes:
        class_names: the classes, in the order of the model's outputs (`labels.txt`).

    Example:

    >>> import tempfile
    >>> import zoo
    >>> from zoo import export, text
    >>> from zoo.models import HierarchicalAttentionNetwork
    >>> words = text.DocumentTokenizer(["[PAD]", "[UNK]", "good", "bad", "."], max_sentences=3, max_words=5)
    >>> model = HierarchicalAttentionNetwork(words.vocabulary_size, 2, embedding_dim=4, gru_units=2,
    ...                                      attention_units=2)
    >>> _ = model(model.example_input())
    >>> path = export.export_han(model, words, ["negative", "positive"], tempfile.mkdtemp(), tflite=False)
    >>> classifier = zoo.load(path)  # untrained: its labels are noise
    >>> document, empty = classifier.classify(["Good. Bad bad!", " "])
    >>> document.label in classifier.class_names, document.words, empty.error
    (True, [['good', '.'], ['bad', 'bad', '!']], 'empty document (no word after tokenisation)')
    >>> print(round(sum(document.probabilities.values()), 4), round(float(document.sentence_attention.sum()), 4))
    1.0 1.0
    >>> classifier.explain("Good. Bad bad!").startswith("<!DOCTYPE html>")
    True
    """

    family = "classification"

    def __init__(self, path):
        super().__init__(path)
        with open(os.path.join(self.path, EXTRA_DIR, "labels.txt"), encoding="utf-8") as f:
            self.class_names = f.read().splitlines()

    def classify(self, texts):
        """The class of each document, its probabilities and attention (the `serving_default` signature).

        Args:
            texts: a str, or a list of str.

        Returns:
            A `Classification` per document (one document in: one result out).
        """
        texts, single = rows(texts)
        out = self._serve(texts)
        results = []
        for b, error in enumerate(out["error"]):
            real = [(s, [decoded(w) for w in words if w]) for s, words in enumerate(out["words"][b]) if any(words)]
            results.append(Classification(
                decoded(out["label"][b]), dict(zip(self.class_names, map(float, out["probabilities"][b]))),
                [words for _, words in real], np.array([out["sentence_attention"][b][s] for s, _ in real], np.float32),
                [out["word_attention"][b][s][:len(words)] for s, words in real], decoded(error)))
        return results[0] if single else results

    def explain(self, texts):
        """A self-contained HTML page showing why each document was classified so (`zoo.explain.explain_html`).

        Per document: the label and every class's probability, then the
        sentences, each shaded by its weight, each word by its weight within
        its sentence, as the paper's figures 5 and 6.

        Args:
            texts: a str, or a list of str.

        Returns:
            The page, a str.
        """
        texts, _ = rows(texts)
        return explain_html(self._serve(texts), self.class_names, texts)

    def draw_explanation(self, text, path):
        """Draws the shading of `explain` for one document to `path` (.png or .svg); returns `path`."""
        texts, single = rows(text)
        if not single:
            raise TypeError("draw_explanation draws one document: give a str")
        explain_png(self._serve(texts), self.class_names, path)
        return path

    def _serve(self, texts):
        return self._call(SERVING_SIGNATURE, text=texts)
