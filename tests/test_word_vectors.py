"""Word2vec embeddings for HAN (zoo.text.train_word_vectors) and the held-out validation documents."""

import numpy as np
import pytest

from zoo import data, text
from zoo.data import Documents

# "cat" and "dog" share every context; "sky" never shares one with them.
CORPUS = ["The cat sat on the mat. The dog sat on the mat.", "A cat ran home. A dog ran home.",
          "The sky is blue above. Blue is the sky."] * 30
VOCABULARY = ["[PAD]", "[UNK]", "the", "cat", "dog", "sky", "unseen", "."]


def test_vectors_follow_the_contexts_and_rows_without_one_stay_zero():
    vectors, found = text.train_word_vectors(CORPUS, VOCABULARY, 16, epochs=20, seed=3)
    assert vectors.shape == (8, 16) and found.tolist() == [False, False, True, True, True, True, False, True]
    assert not vectors[~found].any()

    def cosine(a, b):
        return float(vectors[a] @ vectors[b] / np.linalg.norm(vectors[a]) / np.linalg.norm(vectors[b]))

    assert cosine(3, 4) > cosine(3, 5) + 0.05  # measured 0.94 against 0.80


def test_vectors_are_the_same_from_run_to_run():
    first, _ = text.train_word_vectors(CORPUS[:10], VOCABULARY, 8, epochs=2, seed=5)
    again, _ = text.train_word_vectors(CORPUS[:10], VOCABULARY, 8, epochs=2, seed=5)
    np.testing.assert_array_equal(first, again)


def test_held_out_documents_are_a_seeded_disjoint_part():
    documents = Documents([f"document {i}" for i in range(50)], [i % 3 for i in range(50)], ["a", "b", "c"])
    rest, held = data.hold_out(documents, 0.2, seed=7)
    assert (len(rest), len(held)) == (40, 10)
    assert sorted(rest.texts + held.texts) == sorted(documents.texts)
    assert held.texts == data.hold_out(documents, 0.2, seed=7)[1].texts != data.hold_out(documents, 0.2, 8)[1].texts
    assert [documents.labels[documents.texts.index(t)] for t in held.texts] == held.labels
    with pytest.raises(data.DataError, match="cannot hold out"):
        data.hold_out(Documents(["one"], [0], ["a"]), 0.5, seed=1)
