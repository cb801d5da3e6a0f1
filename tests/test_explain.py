"""zoo.explain: the page that shows why a HAN decided — its weights, words and label, every text escaped.

(`python -m zoo classify --html` writes it: tests/test_cli.py.)
"""

import os
import re

import numpy as np
import tensorflow as tf

from zoo import export
from zoo.explain import explain_html

DOCUMENTS = ["It was superb. Koko ba pi!", 'Bad <script>alert("x")</script> film. Pi ko.', ""]


def served(han_export, texts):
    serve = tf.saved_model.load(han_export).signatures["serving_default"]
    with open(os.path.join(han_export, export.EXTRA_DIR, "labels.txt"), encoding="utf-8") as f:
        class_names = f.read().splitlines()
    return {name: value.numpy() for name, value in serve(text=tf.constant(texts)).items()}, class_names


def test_the_page_shows_the_label_the_probabilities_and_every_weight(han_export):
    outputs, class_names = served(han_export, DOCUMENTS)
    page = explain_html(outputs, class_names, DOCUMENTS)
    documents = page.split('<div class="document">')[1:]
    assert len(documents) == 3
    for b, document in enumerate(documents[:2]):
        assert f'<b class="label">{outputs["label"][b].decode()}</b>' in document
        probabilities = [float(p) for p in re.findall(r'class="probability">([0-9.]+)<', document)]
        np.testing.assert_allclose(probabilities, outputs["probabilities"][b], atol=1e-3)
        real = outputs["sentence_attention"][b] > 0
        weights = [float(w) for w in re.findall(r'data-weight="([0-9.]+)"', document)]
        np.testing.assert_allclose(weights, outputs["sentence_attention"][b][real], atol=1e-4)
        words = outputs["words"][b]
        expected = [(w.decode(), np.sqrt(outputs["sentence_attention"][b][s]) * outputs["word_attention"][b][s][i])
                    for s in np.flatnonzero(real) for i, w in enumerate(words[s]) if w]
        shown = re.findall(r'<span class="word" style="[^"]*" title="([0-9.]+)">([^<]*)</span>', document)
        assert [word for _, word in shown] == [re.sub("<", "&lt;", w).replace(">", "&gt;").replace('"', "&quot;")
                                               for w, _ in expected]
        np.testing.assert_allclose([float(shade) for shade, _ in shown], [shade for _, shade in expected],
                                   atol=1e-3)
    assert "not classified: empty document (no word after tokenisation)" in documents[2]


def test_a_script_in_a_document_is_text_not_markup(han_export):
    outputs, class_names = served(han_export, DOCUMENTS[1:2])
    page = explain_html(outputs, class_names, DOCUMENTS[1:2])
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    assert "<link" not in page and "src=" not in page  # self-contained
