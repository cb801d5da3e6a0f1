"""Attention layers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class AdditiveAttention(keras.layers.Layer):
    """Additive attention over a masked sequence, with a learned or a given query.

    For a sequence h_1..h_T and an optional query q:

        u_t = tanh(W h_t + W_q q + b)
        a_t = exp(u_tᵀ v) / Σ_t' exp(u_t'ᵀ v)
        c   = Σ_t a_t h_t

    Without a query this is Yang et al. 2016, "Hierarchical Attention Networks
    for Document Classification", eqs. (5)-(7) and (8)-(10): v is the trained
    context vector u_w ("what is the informative word"). With a query it is
    the additive attention of Bahdanau et al. 2015 that GNMT uses (Wu et al.
    2016, §3: s_t = AttentionFunction(y_{i-1}, x_t), a feed-forward network
    with one hidden layer; here tanh(W x_t + W_q y_{i-1} + b) scored by v):
    the decoder's state asks which source words matter now.

    Masked steps get a_t = 0 exactly, and a sequence with every step masked
    gets all-zero weights and a zero context (not NaN), so padded sentences
    of a padded document contribute nothing.

    Args:
        units: size of u_t and of v.

    Call arguments:
        inputs: float tensor `[batch, time, features]` (h).
        query: optional float `[batch, query_features]` (one query) or
            `[batch, queries, query_features]` (one attention per query, e.g.
            every decoder step of teacher forcing at once).
        mask: optional boolean tensor `[batch, time]`, True for real steps.
        keys: optional `project(inputs)` (W h_t + b), for a decoder that
            attends over the same sequence at every step: it projects the
            sequence once instead of once a step.

    Returns:
        `(context, weights)`: `[batch, features]` and `[batch, time]`, with a
        `queries` axis after `batch` when the query has one.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import AdditiveAttention
    >>> h = np.random.default_rng(0).random((2, 5, 8), "float32")
    >>> mask = np.array([[True] * 5, [True, True, True, False, False]])
    >>> context, weights = AdditiveAttention(16)(h, mask=mask)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 8), (2, 5))
    >>> np.round(np.sum(weights, axis=-1), 3).tolist()  # a distribution over the real steps
    [1.0, 1.0]
    >>> np.asarray(weights)[1, 3:].tolist()  # masked steps get exactly 0
    [0.0, 0.0]
    >>> context, weights = AdditiveAttention(16)(h, query=np.ones((2, 4, 6), "float32"), mask=mask)
    >>> tuple(context.shape), tuple(weights.shape)  # one attention per query
    ((2, 4, 8), (2, 4, 5))
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = units
        self.supports_masking = True

    def build(self, inputs_shape, query_shape=None):
        features = inputs_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(features, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.context_vector = self.add_weight(name="context_vector", shape=(self.units,), initializer="glorot_uniform")
        if query_shape is not None:
            self.query_kernel = self.add_weight(name="query_kernel", shape=(query_shape[-1], self.units),
                                                initializer="glorot_uniform")

    def project(self, inputs):
        """W h_t + b of every step: `[batch, time, units]` (the layer must be built)."""
        return ops.matmul(inputs, self.kernel) + self.bias

    def call(self, inputs, query=None, mask=None, keys=None):
        keys = self.project(inputs) if keys is None else keys  # [batch, time, units]
        single_query = query is not None and len(query.shape) == 2
        if query is not None:
            queries = ops.matmul(query, self.query_kernel)
            queries = queries[:, None] if single_query else queries  # [batch, queries, units]
            keys = keys[:, None] + queries[:, :, None]  # [batch, queries, time, units]
            if mask is not None:
                mask = mask[:, None]
        # [batch, (queries,) time], in float32 under mixed precision too: float16 cannot hold the -1e9 below.
        scores = ops.cast(ops.matmul(ops.tanh(keys), self.context_vector), "float32")
        if mask is None:
            weights = ops.softmax(scores, axis=-1)
        else:
            mask = ops.cast(mask, scores.dtype)
            # A softmax restricted to unmasked steps; the max is taken over real
            # steps only so exp() cannot underflow them, and an all-masked row
            # divides 0 by 1 instead of 0 by 0.
            largest = ops.max(scores * mask - (1.0 - mask) * 1e9, axis=-1, keepdims=True, initial=-1e9)
            exps = ops.exp(ops.minimum(scores - largest, 0.0)) * mask
            weights = exps / ops.maximum(ops.sum(exps, axis=-1, keepdims=True), 1.0)
        if query is None:
            return ops.sum(inputs * ops.expand_dims(ops.cast(weights, inputs.dtype), -1), axis=1), weights
        context = ops.matmul(ops.cast(weights, inputs.dtype), inputs)  # [batch, queries, features]
        return (context[:, 0], weights[:, 0]) if single_query else (context, weights)

    def compute_mask(self, inputs, query=None, mask=None, keys=None):
        return None

    def compute_output_shape(self, inputs_shape, query_shape=None, keys_shape=None):
        if query_shape is None or len(query_shape) == 2:
            return (inputs_shape[0], inputs_shape[-1]), (inputs_shape[0], inputs_shape[1])
        return (inputs_shape[0], query_shape[1], inputs_shape[-1]), (inputs_shape[0], query_shape[1], inputs_shape[1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}
