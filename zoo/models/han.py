"""Hierarchical Attention Network (Yang et al. 2016, NAACL).

"Hierarchical Attention Networks for Document Classification": a document is
a sequence of sentences, a sentence a sequence of words.

    x_it = W_e w_it                                  word embedding
    h_it = [GRU→(x_it); GRU←(x_it)]                  word encoder
    s_i  = Σ_t α_it h_it,  α = AdditiveAttention      word attention
    h_i  = [GRU→(s_i); GRU←(s_i)]                    sentence encoder
    v    = Σ_i α_i h_i,    α = AdditiveAttention      sentence attention
    p    = softmax(W_c v + b_c)                      document classifier

Defaults are the paper's: embedding 200, GRU 50 per direction, attention
(context vector) size 100.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo.layers.attention import AdditiveAttention
from zoo.text.reserved import PAD_ID, UNK_ID


@keras.saving.register_keras_serializable(package="zoo")
class HierarchicalAttentionNetwork(keras.Model):
    """HAN document classifier over word ids `[batch, sentences, words]`.

    Id 0 is padding: padded words and whole padded sentences are masked, so
    they get zero attention and do not change the output.

    Args:
        vocabulary_size: number of word ids, padding and `[UNK]` included.
        num_classes: number of document classes.
        embedding_dim: size of the word embedding.
        gru_units: GRU units per direction, in both encoders.
        attention_units: size of the attention context vectors u_w and u_s.
        dropout: dropout on the sentence and document vectors in training.
        use_cudnn: passed to the GRUs; exports use False so that a model
            trained on a GPU never carries CuDNN ops into a CPU server.

    Call arguments:
        word_ids: int tensor `[batch, sentences, words]`.
        return_attention: also return the word attention
            `[batch, sentences, words]` and the sentence attention
            `[batch, sentences]`.

    Returns:
        class probabilities `[batch, num_classes]`, or
        `(probabilities, word_attention, sentence_attention)`.

    Example:

    >>> import numpy as np
    >>> from zoo.models import HierarchicalAttentionNetwork
    >>> model = HierarchicalAttentionNetwork(vocabulary_size=30, num_classes=3, embedding_dim=8, gru_units=4,
    ...                                      attention_units=6)
    >>> word_ids = np.array([[[5, 6, 7], [8, 9, 0], [0, 0, 0]]])  # 2 sentences, then a padded one
    >>> probabilities, word_attention, sentence_attention = model(word_ids, return_attention=True)
    >>> tuple(probabilities.shape), tuple(word_attention.shape), tuple(sentence_attention.shape)
    ((1, 3), (1, 3, 3), (1, 3))
    >>> float(np.round(np.sum(probabilities), 4))
    1.0
    >>> float(word_attention[0, 1, 2]), float(sentence_attention[0, 2])  # padding gets exactly no attention
    (0.0, 0.0)
    """

    def __init__(
        self,
        vocabulary_size,
        num_classes,
        embedding_dim=200,
        gru_units=50,
        attention_units=100,
        dropout=0.0,
        use_cudnn="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("vocabulary_size", vocabulary_size), ("num_classes", num_classes),
                            ("embedding_dim", embedding_dim), ("gru_units", gru_units),
                            ("attention_units", attention_units)):
            if value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}")
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.embedding_dim = embedding_dim
        self.gru_units = gru_units
        self.attention_units = attention_units
        self.dropout = dropout
        self.use_cudnn = use_cudnn

        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True, name="word_embedding")
        self.word_encoder = keras.layers.Bidirectional(
            keras.layers.GRU(gru_units, return_sequences=True, use_cudnn=use_cudnn), name="word_encoder")
        self.word_attention = AdditiveAttention(attention_units, name="word_attention")
        self.sentence_encoder = keras.layers.Bidirectional(
            keras.layers.GRU(gru_units, return_sequences=True, use_cudnn=use_cudnn), name="sentence_encoder")
        self.sentence_attention = AdditiveAttention(attention_units, name="sentence_attention")
        self.dropout_layer = keras.layers.Dropout(dropout)
        # float32 under mixed precision too: a float16 softmax rounds small probabilities to 0.
        self.classifier = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")

    @staticmethod
    def example_input():
        """The smallest valid input: one document of one sentence of one word."""
        return np.full((1, 1, 1), UNK_ID, np.int32)

    def call(self, word_ids, training=False, return_attention=False):
        batch, sentences, words = ops.shape(word_ids)[0], ops.shape(word_ids)[1], ops.shape(word_ids)[2]
        flat_ids = ops.reshape(word_ids, (-1, words))
        sentence_mask = ops.any(ops.not_equal(word_ids, PAD_ID), axis=-1)  # a sentence with a word
        if training and not self.jit_compile:  # XLA compiles static shapes only: it reads every row
            sentence_vectors, word_weights = self._read_real_sentences(flat_ids, ops.reshape(sentence_mask, (-1,)),
                                                                       training)
        else:
            sentence_vectors, word_weights = self._read_sentences(flat_ids, training)
        sentence_vectors = ops.reshape(sentence_vectors, (batch, sentences, 2 * self.gru_units))
        sentence_vectors = self.dropout_layer(sentence_vectors, training=training)

        h = self.sentence_encoder(sentence_vectors, mask=sentence_mask, training=training)
        document_vector, sentence_weights = self.sentence_attention(h, mask=sentence_mask)
        probabilities = self.classifier(self.dropout_layer(document_vector, training=training))
        if return_attention:
            return probabilities, ops.reshape(word_weights, (batch, sentences, words)), sentence_weights
        return probabilities

    def _read_sentences(self, flat_ids, training):
        """Word encoder and attention over sentences `[rows, words]` → (s_i `[rows, 2 * gru_units]`, α_it)."""
        word_mask = ops.not_equal(flat_ids, PAD_ID)
        h = self.word_encoder(self.embedding(flat_ids), mask=word_mask, training=training)
        return self.word_attention(h, mask=word_mask)

    def _read_real_sentences(self, flat_ids, real, training):
        """`_read_sentences` over the rows where `real` is True only, scattered back (zeros for empty ones).

        The same numbers as reading every row (an empty sentence gets s_i = 0
        and α = 0 either way) for less work: padded sentences are often half of
        a batch. Training only: the gathered batch has a dynamic size, which the
        fixed-shape TFLite graph of the export cannot have.
        """
        rows = tf.where(real)
        vectors, weights = self._read_sentences(tf.gather_nd(flat_ids, rows), training)
        shape = tf.shape(flat_ids, out_type=tf.int64)
        return (tf.scatter_nd(rows, vectors, tf.stack([shape[0], 2 * self.gru_units])),
                tf.scatter_nd(rows, weights, shape))

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "num_classes": self.num_classes,
            "embedding_dim": self.embedding_dim,
            "gru_units": self.gru_units,
            "attention_units": self.attention_units,
            "dropout": self.dropout,
            "use_cudnn": self.use_cudnn,
        }
