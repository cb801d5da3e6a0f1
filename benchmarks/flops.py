"""Floating-point operations of the benchmarked models: the matrix products a training step runs.

Counted: every matrix product of the recurrent layers (input and recurrent
kernels, every time step the layer runs, padded steps included: they are
work done), the attention (projections, scores against the context vector,
the weighted sums), dense layers and the output projection. A product of an
[m, k] by a [k, n] matrix is 2·m·k·n operations (a multiply and an add).
Not counted: elementwise work (gates' sigmoids and tanhs, masks, softmax,
the loss) and embeddings, which are lookups (0). Graves's text model feeds
one-hot characters to its LSTMs' kernels, a real matrix product, counted.

A training step (forward, then backward: the gradients with respect to the
inputs and to the weights, a product each) is `TRAINING` = 3 × forward.

Every function takes the shapes a batch runs at (`steps` are the padded
lengths) and returns forward operations; `training(forward)` scales them.
"""

TRAINING = 3  # forward + backward ≈ 3 × forward for matrix products


def training(forward):
    return TRAINING * forward


def dense(rows, features, outputs):
    """[rows, features] × [features, outputs]."""
    return 2 * rows * features * outputs


def lstm(rows, steps, features, units):
    """One LSTM direction over `steps`: per step x W [features, 4 units] and h U [units, 4 units]."""
    return steps * (dense(rows, features, 4 * units) + dense(rows, units, 4 * units))


def gru(rows, steps, features, units):
    """One GRU direction: per step x W [features, 3 units] and the recurrent products, 3 units wide in all.

    Both forms do the same products: reset-after h U [units, 3 units]; reset-before h U_zr [units, 2 units]
    and (r ⊙ h) U_h [units, units].
    """
    return steps * (dense(rows, features, 3 * units) + dense(rows, units, 3 * units))


def attention_pooling(rows, steps, features, units):
    """HAN's attention (no query): u = tanh(W h + b) [.., units], scores uᵀ v, Σ α h over `steps`."""
    return dense(rows * steps, features, units) + dense(rows * steps, units, 1) + dense(rows, steps, features)


def han(batch, sentences, words, embedding, gru_units, attention, classes):
    """`HierarchicalAttentionNetwork` on word ids [batch, sentences, words]: bidirectional word GRU over
    [batch·sentences, words], word attention, bidirectional sentence GRU, sentence attention, classifier."""
    rows = batch * sentences
    return (2 * gru(rows, words, embedding, gru_units) + attention_pooling(rows, words, 2 * gru_units, attention)
            + 2 * gru(batch, sentences, 2 * gru_units, gru_units)
            + attention_pooling(batch, sentences, 2 * gru_units, attention)
            + dense(batch, 2 * gru_units, classes))


def graves(batch, steps, features, units, layers, outputs):
    """Graves's skip stack: layer n reads [x; h^{n-1}] (features + units, the first features only); one dense
    layer over all layers' outputs [layers · units] → outputs."""
    stack = sum(lstm(batch, steps, features + (units if n else 0), units) for n in range(layers))
    return stack + dense(batch * steps, layers * units, outputs)


def sutskever(batch, source_steps, target_steps, embedding, units, layers, vocabulary):
    """Deep LSTM encoder over the source, deep LSTM decoder over the target, projection to the vocabulary."""
    def deep(steps):
        return lstm(batch, steps, embedding, units) + (layers - 1) * lstm(batch, steps, units, units)
    return deep(source_steps) + deep(target_steps) + dense(batch * target_steps, units, vocabulary)


def cho(batch, source_steps, target_steps, embedding, units, maxout, vocabulary):
    """`ChoEncoderDecoder` as the zoo runs it: encoder GRU; c = tanh(V h); h'_0 = tanh(V' c); decoder GRU over
    e(y) with c's product taken once a sentence (C c, [units, 3 units]); maxout over [h'; e(y); c] → 2 · maxout;
    projection from maxout."""
    return (gru(batch, source_steps, embedding, units) + 2 * dense(batch, units, units)
            + gru(batch, target_steps, embedding, units) + dense(batch, units, 3 * units)
            + dense(batch * target_steps, 2 * units + embedding, 2 * maxout)
            + dense(batch * target_steps, maxout, vocabulary))


def additive_attention(batch, queries, keys, features, query_features, units):
    """s = vᵀ tanh(W1 x + W2 y + b) for every (query, key), then Σ p x: keys and queries projected once each,
    the [batch, queries, keys, units] scores reduced by v, the [queries, keys] × [keys, features] context."""
    return (dense(batch * keys, features, units) + dense(batch * queries, query_features, units)
            + dense(batch * queries * keys, units, 1) + batch * dense(queries, keys, features))


def gnmt(batch, source_steps, target_steps, embedding, units, layers, attention, vocabulary):
    """`GNMT` (layers encoder + layers decoder): bidirectional bottom encoder, the next reads its 2 · units,
    the rest units; decoder layer 0 reads e(y), the others [y; a] (2 · units); attention from decoder
    layer 0's outputs over the top encoder outputs; projection to the vocabulary."""
    encoder = (2 * lstm(batch, source_steps, embedding, units) + lstm(batch, source_steps, 2 * units, units)
               + (layers - 2) * lstm(batch, source_steps, units, units))
    decoder = lstm(batch, target_steps, embedding, units) + (layers - 1) * lstm(batch, target_steps, 2 * units, units)
    return (encoder + decoder + additive_attention(batch, target_steps, source_steps, units, units, attention)
            + dense(batch * target_steps, units, vocabulary))
