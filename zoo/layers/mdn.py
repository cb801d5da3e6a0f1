"""Mixture density output for pen strokes (Graves 2013, §4.1)."""

import math

import keras
import tensorflow as tf
from keras import ops


def split_mixture(y_hat, num_components):
    """ŷ `[..., 1 + 6M]` → (ê, π̂, μ̂1, μ̂2, σ̂1, σ̂2, ρ̂), each `[..., M]` (ê `[..., 1]`).

    Args:
        y_hat: `[..., 1 + 6M]`, the output of `MixtureDensityOutput`.
        num_components: M.

    Returns:
        The seven groups, in the order in which ŷ holds them.

    Example:

    >>> import numpy as np
    >>> from zoo.layers.mdn import split_mixture
    >>> groups = split_mixture(np.zeros((4, 1 + 6 * 3), "float32"), 3)
    >>> [tuple(g.shape) for g in groups]
    [(4, 1), (4, 3), (4, 3), (4, 3), (4, 3), (4, 3), (4, 3)]
    """
    m = num_components
    return ops.split(y_hat, [1, 1 + m, 1 + 2 * m, 1 + 3 * m, 1 + 4 * m, 1 + 5 * m], axis=-1)


def mixture_negative_log_likelihood(targets, y_hat, num_components):
    """Graves 2013 eq. (26): -log Pr(x_{t+1} | y_t), targets `[..., 3]` = (Δx, Δy, end of stroke) → `[...]`.

    See `MixtureDensityOutput` for the parameterisation and the numerics.

    Args:
        targets: `[..., 3]`, the next pen offsets x_{t+1}; end of stroke is 0 or 1.
        y_hat: `[..., 1 + 6M]`, the output of `MixtureDensityOutput`.
        num_components: M.

    Returns:
        `[...]`, one negative log likelihood (in nats) per step.

    Example:

    ŷ = 0 is e = 1/2, equal weights, μ = 0, σ = 1 and ρ = 0 for every component,
    so the loss is log(2π) + |x|²/2 + log 2:

    >>> import numpy as np
    >>> from zoo.layers.mdn import mixture_negative_log_likelihood
    >>> targets = np.float32([[0.0, 0.0, 0.0], [1.0, 0.0, 1.0]])
    >>> print(np.round(mixture_negative_log_likelihood(targets, np.zeros((2, 19), "float32"), 3), 3))
    [2.531 3.031]
    """
    e_hat, pi_hat, mu1, mu2, s1_hat, s2_hat, rho_hat = split_mixture(y_hat, num_components)
    x1, x2, eos = targets[..., 0:1], targets[..., 1:2], targets[..., 2]
    z1 = (x1 - mu1) * ops.exp(-s1_hat)
    z2 = (x2 - mu2) * ops.exp(-s2_hat)
    # Z / (1 - ρ²) = (z1 + z2)² / (2 (1 + ρ)) + (z1 - z2)² / (2 (1 - ρ)), with 1 ± ρ = 2 σ(±2ρ̂)
    # taken from ρ̂: exact where tanh(ρ̂) rounds to ±1.
    log_one_plus_rho = math.log(2.0) + ops.log_sigmoid(2.0 * rho_hat)
    log_one_minus_rho = math.log(2.0) + ops.log_sigmoid(-2.0 * rho_hat)
    z_over_one_minus_rho2 = 0.5 * ((z1 + z2) ** 2 * ops.exp(-log_one_plus_rho)
                                   + (z1 - z2) ** 2 * ops.exp(-log_one_minus_rho))
    log_normal = (-math.log(2.0 * math.pi) - s1_hat - s2_hat - 0.5 * (log_one_plus_rho + log_one_minus_rho)
                  - 0.5 * z_over_one_minus_rho2)
    log_mixture = ops.logsumexp(ops.log_softmax(pi_hat, axis=-1) + log_normal, axis=-1)
    # log e_t = log σ(-ê), log(1 - e_t) = log σ(ê).
    log_eos = ops.where(eos > 0.5, ops.log_sigmoid(-e_hat[..., 0]), ops.log_sigmoid(e_hat[..., 0]))
    return -(log_mixture + log_eos)


@keras.saving.register_keras_serializable(package="zoo")
class MixtureDensityLoss(keras.losses.Loss):
    """Eq. (26) as a Keras loss: `y_true` strokes `[..., 3]`, `y_pred` ŷ `[..., 1 + 6M]`.

    The per-step losses of `mixture_negative_log_likelihood` are reduced by
    `reduction`: the default, `"sum_over_batch_size"`, divides the weighted
    sum by the number of steps, padding included; `"mean_with_sample_weight"`
    divides it by the sum of `sample_weight`, the mean over the real steps of
    padded sequences (what the recipes use).

    Args:
        num_components: M, as in `MixtureDensityOutput`.
        name, **kwargs: passed to `keras.losses.Loss` (e.g. `reduction`).

    Example:

    >>> import numpy as np
    >>> from zoo.layers.mdn import MixtureDensityLoss
    >>> strokes = np.tile(np.float32([1.0, 0.0, 0.0]), (2, 5, 1))  # Δx = 1, Δy = 0, pen stays down
    >>> y_hat = np.zeros((2, 5, 19), "float32")  # M = 3; e = 1/2, μ = 0, σ = 1, ρ = 0
    >>> real = np.float32([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])  # the first sequence is padded
    >>> loss = MixtureDensityLoss(3, reduction="mean_with_sample_weight")
    >>> round(float(loss(strokes, y_hat, sample_weight=real)), 3)  # log(2π) + 1/2 + log 2 a real step
    3.031
    """

    def __init__(self, num_components, name="mixture_density_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_components = num_components

    def call(self, y_true, y_pred):
        return mixture_negative_log_likelihood(y_true, y_pred, self.num_components)

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components}


@keras.saving.register_keras_serializable(package="zoo")
class MixtureDensityOutput(keras.layers.Layer):
    """Mixture of M bivariate Gaussians plus an end-of-stroke Bernoulli.

    Graves 2013, "Generating Sequences With Recurrent Neural Networks", eqs. (17)-(26).
    A dense layer maps the network's output to ŷ_t = (ê_t, {π̂^j, μ̂^j, σ̂^j, ρ̂^j}_{j=1..M})
    (1 + 6M numbers, in that order, each group of M side by side), and

        e_t = 1 / (1 + exp(ê_t))        π^j = softmax_j(π̂^j)
        μ^j = μ̂^j                       σ^j = exp(σ̂^j)        ρ^j = tanh(ρ̂^j)

        Pr(x_{t+1} | y_t) = Σ_j π^j N(x_{t+1} | μ^j, σ^j, ρ^j) · (e_t if (x_{t+1})_3 = 1 else 1 - e_t)

    `negative_log_likelihood` is eq. (26), computed in log space: logsumexp over
    the components, and 1 ± ρ = 2 sigmoid(±2ρ̂) taken from ρ̂ directly, so a
    correlation that rounds to ±1 or a tiny σ gives a large but finite, exact
    loss, not NaN.

    `sample` draws x_{t+1} with the bias b of §5.4 (eqs. 61-62):
    σ^j = exp(σ̂^j - b), π^j = softmax(π̂^j (1 + b)); b = 0 samples the model as
    trained, larger b gives cleaner, more probable strokes.

    Args:
        num_components: M, the number of mixture components (the paper uses 20).

    Call arguments:
        inputs: float tensor `[..., features]`, the network's output y_t.

    Returns:
        ŷ `[..., 1 + 6M]`, unconstrained; `mixture`, `negative_log_likelihood`
        and `sample` read it.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import MixtureDensityOutput
    >>> mdn = MixtureDensityOutput(num_components=3)
    >>> y_hat = mdn(np.random.default_rng(0).random((2, 5, 16), "float32"))
    >>> tuple(y_hat.shape)  # 1 + 6M numbers a step
    (2, 5, 19)
    >>> bool(np.allclose(np.sum(mdn.mixture(y_hat)["weights"], axis=-1), 1.0))
    True
    >>> strokes = mdn.sample(y_hat, bias=1.0, seed=(1, 2))  # (Δx, Δy, end of stroke)
    >>> tuple(strokes.shape), tuple(mdn.negative_log_likelihood(strokes, y_hat).shape)
    ((2, 5, 3), (2, 5))
    """

    def __init__(self, num_components=20, **kwargs):
        super().__init__(**kwargs)
        if num_components <= 0:
            raise ValueError(f"num_components must be positive, got {num_components}")
        self.num_components = num_components
        self.projection = keras.layers.Dense(1 + 6 * num_components, dtype=self.dtype_policy, name="projection")

    def build(self, input_shape):
        self.projection.build(input_shape)

    def call(self, inputs):
        return self.projection(inputs)

    def split(self, y_hat):
        """ŷ → (ê, π̂, μ̂1, μ̂2, σ̂1, σ̂2, ρ̂), each `[..., M]` (ê `[..., 1]`)."""
        return split_mixture(y_hat, self.num_components)

    def mixture(self, y_hat, bias=0.0):
        """The distribution's parameters (eqs. 18-22, with the bias of eqs. 61-62) as a dict."""
        e_hat, pi_hat, mu1, mu2, s1_hat, s2_hat, rho_hat = self.split(y_hat)
        return {
            "end_of_stroke": ops.sigmoid(-e_hat)[..., 0],
            "weights": ops.softmax(pi_hat * (1.0 + bias), axis=-1),
            "mu1": mu1, "mu2": mu2,
            "sigma1": ops.exp(s1_hat - bias), "sigma2": ops.exp(s2_hat - bias),
            "rho": ops.tanh(rho_hat),
        }

    def negative_log_likelihood(self, targets, y_hat):
        """-log Pr(x_{t+1} | y_t) for targets `[..., 3]` = (Δx, Δy, end of stroke); shape `[...]`."""
        return mixture_negative_log_likelihood(targets, y_hat, self.num_components)

    def sample(self, y_hat, bias=0.0, seed=(0, 0)):
        """Draws (Δx, Δy, end of stroke) `[..., 3]` from ŷ `[..., 1 + 6M]` with bias b.

        `seed` is a stateless seed: a shape-[2] int tensor or pair for the
        whole batch, or `[rows, 2]`, one per row of ŷ `[rows, 1 + 6M]`, so that
        each row's draw depends on its own seed only (four uniform numbers a
        row, drawn by `sample_from_uniforms`). The same seed gives the same
        sample, inside a graph too. `bias` is a number or `[rows, 1]`.
        """
        flat = tf.reshape(y_hat, (-1, 1 + 6 * self.num_components))
        seed = tf.cast(seed, tf.int64)
        if seed.shape.rank == 2:
            uniforms = tf.map_fn(lambda row_seed: tf.random.stateless_uniform([4], row_seed), seed,
                                 fn_output_signature=tf.float32)
            point = self.sample_from_uniforms(flat, bias, uniforms)
        else:
            p = self.mixture(flat, bias)
            seeds = tf.random.experimental.stateless_split(seed, 3)
            component = tf.random.stateless_categorical(tf.math.log(p["weights"]), 1, seeds[0])[:, 0]
            normal = tf.random.stateless_normal(tf.stack([tf.size(component), 2]), seeds[1], dtype=p["mu1"].dtype)
            point = _draw(p, component, normal, tf.random.stateless_uniform(tf.shape(component), seeds[2]))
        return tf.reshape(point, tf.concat([tf.shape(y_hat)[:-1], [3]], 0))

    def sample_from_uniforms(self, y_hat, bias, uniforms):
        """Draws (Δx, Δy, end of stroke) `[rows, 3]` from ŷ `[rows, 1 + 6M]` with bias b, given the random numbers.

        `uniforms` float32 `[rows, 4]` in [0, 1), a row's own: u0 picks the
        component by the inverse of the weights' cumulative sum (the first j
        whose sum exceeds u0); u1, u2 make two standard normals by Box–Muller
        (r = √(−2 log(1 − u1)), z = (r cos 2πu2, r sin 2πu2)); end of stroke
        is 1 where u3 < e. Nothing random is drawn inside, so a caller that
        feeds the same numbers gets the same point (the synthesis `.tflite`
        takes them as an input). `bias` is a number or `[rows, 1]`.
        """
        m = self.num_components
        p = self.mixture(y_hat, bias)
        cdf = tf.cumsum(p["weights"], axis=-1)
        component = tf.minimum(tf.reduce_sum(tf.cast(cdf <= uniforms[:, :1], tf.int32), axis=-1), m - 1)
        radius = tf.sqrt(-2.0 * tf.math.log(1.0 - uniforms[:, 1]))
        angle = 2.0 * math.pi * uniforms[:, 2]
        normal = tf.stack([radius * tf.cos(angle), radius * tf.sin(angle)], axis=-1)
        return _draw(p, component, normal, uniforms[:, 3])

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components}


def _draw(p, component, normal, eos_draw):
    """The point `[rows, 3]` of the mixture `p` (`MixtureDensityOutput.mixture`, `[rows, M]` each) for each row's
    component, standard normals `[rows, 2]` and end-of-stroke uniform `[rows]` (eq. 62's correlated pair)."""
    mu1, mu2, s1, s2, rho = (tf.gather(p[k], component, batch_dims=1)
                             for k in ("mu1", "mu2", "sigma1", "sigma2", "rho"))
    x1 = mu1 + s1 * normal[:, 0]
    x2 = mu2 + s2 * (rho * normal[:, 0] + tf.sqrt(1.0 - rho**2) * normal[:, 1])
    eos = tf.cast(eos_draw < p["end_of_stroke"], x1.dtype)
    return tf.stack([x1, x2, eos], axis=-1)
