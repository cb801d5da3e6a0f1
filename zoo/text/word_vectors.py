"""Word vectors learnt on the training documents (word2vec, Mikolov et al. 2013), as HAN initialises its embeddings.

Yang et al. 2016 (§3.2): "we use word2vec to obtain the word embeddings" on
the training and validation splits. `train_word_vectors` learns skip-gram
vectors with gensim (the field's standard implementation) on the documents
as `DocumentTokenizer` splits them, so the words are the model's own.
"""

import zlib

import numpy as np
import tensorflow as tf

from zoo.text.documents import split_documents
from zoo.text.reserved import PAD_ID


def document_sentences(documents, batch_size=256):
    """The documents' sentences as lists of words (str), as `DocumentTokenizer` splits them, not truncated."""
    sentences = []
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(list(documents), tf.string)).batch(batch_size)
    for batch in dataset.map(lambda d: split_documents(d).merge_dims(0, 1)):
        sentences += [[w.decode("utf-8") for w in sentence] for sentence in batch.to_list()]
    return sentences


def train_word_vectors(documents, vocabulary, dimensions, epochs=5, window=5, seed=1):
    """Skip-gram vectors of `vocabulary`'s words learnt on `documents`: (`[len(vocabulary), dimensions]`, found).

    `found` `[len(vocabulary)]` is true where word2vec has a vector (a word of
    the vocabulary seen at least once); the other rows, `[PAD]` and `[UNK]`
    among them, are 0: keep the layer's own initialisation there. The same
    documents and `seed` give the same vectors, in any process.
    """
    from gensim.models import Word2Vec  # imported here: only the recipes that pretrain need it

    # gensim seeds each word's first vector from hash(word), which Python salts per process: a stable hash
    # (and one worker thread) makes the vectors the same in every run.
    model = Word2Vec(document_sentences(documents), vector_size=dimensions, window=window, min_count=1, sg=1,
                     epochs=epochs, seed=seed, workers=1, hashfxn=lambda word: zlib.crc32(word.encode("utf-8")))
    vectors = np.zeros((len(vocabulary), dimensions), np.float32)
    found = np.array([i != PAD_ID and word in model.wv.key_to_index for i, word in enumerate(vocabulary)])
    for i in np.flatnonzero(found):
        vectors[i] = model.wv[vocabulary[i]]
    return vectors, found
