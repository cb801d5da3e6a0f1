"""Attention layers."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class AdditiveAttention(keras.layers.Layer):
    """Additive attention pooling with a learned context vector.

    Yang et al. 2016, "Hierarchical Attention Networks for Document
    Classification", eqs. (5)-(7) and (8)-(10). For a sequence h_1..h_T:

        u_t = tanh(W h_t + b)
        a_t = exp(u_tᵀ u_w) / Σ_t' exp(u_t'ᵀ u_w)
        c   = Σ_t a_t h_t

    where u_w is a trained context vector ("what is the informative word").
    Masked steps get a_t = 0 exactly, and a sequence with every step masked
    gets all-zero weights and a zero context (not NaN), so padded sentences
    of a padded document contribute nothing.

    Args:
        units: size of u_t and of the context vector u_w.

    Call arguments:
        inputs: float tensor `[batch, time, features]`.
        mask: optional boolean tensor `[batch, time]`, True for real steps.

    Returns:
        `(context, weights)`: `[batch, features]` and `[batch, time]`.
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = units
        self.supports_masking = True

    def build(self, input_shape):
        features = input_shape[-1]
        self.kernel = self.add_weight(name="kernel", shape=(features, self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.context_vector = self.add_weight(name="context_vector", shape=(self.units,), initializer="glorot_uniform")

    def call(self, inputs, mask=None):
        u = ops.tanh(ops.matmul(inputs, self.kernel) + self.bias)
        scores = ops.matmul(u, self.context_vector)  # [batch, time]
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
        context = ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)
        return context, weights

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1]), (input_shape[0], input_shape[1])

    def get_config(self):
        return {**super().get_config(), "units": self.units}
