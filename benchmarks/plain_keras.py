"""The zoo's architectures written the obvious Keras way: functional models of stock layers, fixed input shapes.

Each has the zoo model's layers and sizes (the benchmark checks the parameter
counts are equal) and relies on Keras's own mask propagation
(`Embedding(mask_zero=True)`). No bucketing, no tuning: inputs are padded to
the data set's maximum length and `compile()` keeps its defaults (the loss is the zoo's).
"""

import keras
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


def han(vocabulary_size, classes, sentences, words, embedding, gru, attention):
    word_ids = keras.Input((words,), dtype="int32")
    x = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(word_ids)
    x = layers.Bidirectional(layers.GRU(gru, return_sequences=True))(x)
    sentence_encoder = keras.Model(word_ids, AttentionPooling(attention)(x))

    document = keras.Input((sentences, words), dtype="int32")
    sentence_mask = ops.any(ops.not_equal(document, 0), axis=-1)
    s = layers.TimeDistributed(sentence_encoder)(document)
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
    return keras.Model(points, layers.Dense(1 + 6 * components)(hidden))


def _translation_inputs(length):
    return keras.Input((length,), dtype="int32"), keras.Input((length,), dtype="int32")


def sutskever(vocabulary_size, length, embedding, units, num_layers):
    source, target = _translation_inputs(length)
    x, states = layers.Embedding(vocabulary_size, embedding, mask_zero=True)(source), []
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
    c_each_step = layers.RepeatVector(length)(c)
    decoded = layers.GRU(units, reset_after=False, return_sequences=True)(
        layers.Concatenate()([y, c_each_step]), initial_state=start)
    pieces = layers.Dense(2 * maxout)(layers.Concatenate()([decoded, y, c_each_step]))
    hidden = ops.max(layers.Reshape((length, maxout, 2))(pieces), axis=-1)
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
