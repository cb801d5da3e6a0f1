"""The zoo's architectures written the obvious Keras way: functional models of stock layers.

Each has the zoo model's layers and sizes (tests/test_benchmark_models.py
checks the weights' shapes and the parameter counts are equal) and relies on
Keras's own mask propagation (`Embedding(mask_zero=True)`); `compile()`
keeps its defaults (the loss is the zoo's). A length of None (what the
benchmark builds) takes batches of any padded length: the zoo's bucketed
batches for the headline ratios, arrays padded to the data set's maximum for
the "as each user would write it" column.
"""

import keras
import tensorflow as tf
from keras import layers, ops


class AttentionPooling(layers.Layer):
    """HAN's pooling as Keras users write it: u = tanh(W h + b), α = softmax(uᵀ u_w) over unmasked steps, Σ α h."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        self.projection = layers.Dense(self.units, activation="tanh")
        self.projection.build(input_shape)
        self.context = self.add_weight(shape=(self.units,), name="context")

    def call(self, h, mask=None):
        scores = ops.sum(self.projection(h) * self.context, axis=-1)
        if mask is not None:
            scores = ops.where(mask, scores, -1e9)
        weights = ops.softmax(scores, axis=-1)
        return ops.sum(h * weights[..., None], axis=1)

    def compute_mask(self, inputs, mask=None):
        return None


class SentencesAsRows(layers.Layer):
    """Word ids [batch, sentences, words] → [batch · sentences, words]: every sentence a row of one GRU call."""

    def call(self, document):
        return ops.reshape(document, (-1, ops.shape(document)[2]))


class RowsAsSentences(layers.Layer):
    """Sentence vectors [batch · sentences, features] → [batch, sentences, features], the document's shape."""

    def call(self, vectors, document):
        return ops.reshape(vectors, (ops.shape(document)[0], ops.shape(document)[1], vectors.shape[-1]))


def han(vocabulary_size, classes, sentences, words, embedding, gru, attention):
    """The word encoder runs once over the sentences as rows (not `TimeDistributed`, which Keras 3 runs as a
    Python loop over one copy of the sentence model a sentence); same weights."""
    document = keras.Input((sentences, words), dtype="int32")
    x = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(SentencesAsRows()(document))
    x = layers.Bidirectional(layers.GRU(gru, return_sequences=True))(x)
    s = RowsAsSentences()(AttentionPooling(attention)(x), document)
    sentence_mask = ops.any(ops.not_equal(document, 0), axis=-1)
    s = layers.Bidirectional(layers.GRU(gru, return_sequences=True))(s, mask=sentence_mask)
    v = AttentionPooling(attention)(s, mask=sentence_mask)
    return keras.Model(document, layers.Dense(classes, activation="softmax")(v))


def _skip_stack(inputs, units, num_layers):
    """Graves's stack: every layer sees the input and the layer below; all layers feed the output."""
    outputs, below = [], None
    for _ in range(num_layers):
        layer_input = inputs if below is None else layers.Concatenate()([inputs, below])
        below = layers.LSTM(units, return_sequences=True)(layer_input)
        outputs.append(below)
    return layers.Concatenate()(outputs)


def graves_text(vocabulary_size, length, units, num_layers):
    char_ids = keras.Input((length,), dtype="int32")
    hidden = _skip_stack(ops.one_hot(char_ids, vocabulary_size), units, num_layers)
    return keras.Model(char_ids, layers.Dense(vocabulary_size)(hidden))


def graves_handwriting(length, units, num_layers, components):
    points = keras.Input((length, 3))
    hidden = _skip_stack(points, units, num_layers)
    # float32 under a mixed policy, as the zoo's mixture density output: its log-likelihood needs the mantissa.
    return keras.Model(points, layers.Dense(1 + 6 * components, dtype="float32")(hidden))


def _translation_inputs(length):
    return keras.Input((length,), dtype="int32"), keras.Input((length,), dtype="int32")


class ReverseWithinLength(layers.Layer):
    """Each row's real ids in reverse order, padding (0) left at the end: Sutskever's reversed source."""

    def call(self, ids):
        lengths = ops.sum(ops.cast(ops.not_equal(ids, 0), "int32"), axis=1)
        return tf.reverse_sequence(ids, lengths, seq_axis=1, batch_axis=0)


class RepeatAlongTime(layers.Layer):
    """c [batch, features] at every step of y [batch, time, ...]: `RepeatVector` for a time axis of any length."""

    def call(self, c, y):
        return ops.broadcast_to(c[:, None, :], (ops.shape(y)[0], ops.shape(y)[1], c.shape[-1]))


def sutskever(vocabulary_size, length, embedding, units, num_layers):
    source, target = _translation_inputs(length)
    x, states = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(ReverseWithinLength()(source)), []
    for _ in range(num_layers):
        x, h, c = layers.LSTM(units, return_sequences=True, return_state=True)(x)
        states.append([h, c])
    y = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(target)
    for state in states:
        y = layers.LSTM(units, return_sequences=True)(y, initial_state=state)
    return keras.Model([source, target], layers.Dense(vocabulary_size)(y))


def cho(vocabulary_size, length, embedding, units, maxout):
    source, target = _translation_inputs(length)
    h = layers.GRU(units, reset_after=False)(layers.Embedding(vocabulary_size, embedding, mask_zero=True)(source))
    c = layers.Dense(units, activation="tanh")(h)
    start = layers.Dense(units, activation="tanh")(c)
    y = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(target)
    c_each_step = RepeatAlongTime()(c, y)
    decoded = layers.GRU(units, reset_after=False, return_sequences=True)(
        layers.Concatenate()([y, c_each_step]), initial_state=start)
    pieces = layers.Dense(2 * maxout)(layers.Concatenate()([decoded, y, c_each_step]))
    hidden = ops.max(layers.Reshape((-1, maxout, 2))(pieces), axis=-1)
    return keras.Model([source, target], layers.Dense(vocabulary_size)(hidden))


def gnmt(vocabulary_size, length, embedding, units, num_layers, attention_units):
    source, target = _translation_inputs(length)
    x, _, _, h, c = layers.Bidirectional(layers.LSTM(units, return_sequences=True, return_state=True))(
        layers.Embedding(vocabulary_size, embedding, mask_zero=True)(source))
    states = [[h, c]]
    for n in range(1, num_layers):
        output, h, c = layers.LSTM(units, return_sequences=True, return_state=True)(x)
        x = layers.Add()([x, output]) if n >= 2 else output
        states.append([h, c])
    y = layers.LSTM(units, return_sequences=True)(
        layers.Embedding(vocabulary_size, embedding, mask_zero=True)(target), initial_state=states[0])
    # s = vᵀ tanh(W1 x + W2 y + b): Keras's AdditiveAttention over projected keys and queries.
    query = layers.Dense(attention_units, use_bias=False)(y)
    keys = layers.Dense(attention_units)(x)
    context = layers.AdditiveAttention()([query, x, keys])
    for n in range(1, num_layers):
        output = layers.LSTM(units, return_sequences=True)(layers.Concatenate()([y, context]),
                                                             initial_state=states[n])
        y = layers.Add()([y, output]) if n >= 2 else output
    return keras.Model([source, target], layers.Dense(vocabulary_size)(y))
