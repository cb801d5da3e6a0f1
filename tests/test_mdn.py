import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import MixtureDensityOutput


def raw(e_hat, pi_hat, mu1, mu2, s1_hat, s2_hat, rho_hat):
    """ŷ in the layer's order: ê, then the M values of each parameter group."""
    return np.array([e_hat, *pi_hat, *mu1, *mu2, *s1_hat, *s2_hat, *rho_hat], "float64")[None].astype("float32")


def bivariate_normal(x1, x2, mu1, mu2, s1, s2, rho):
    """Graves 2013 eqs. (24)-(25), written out independently of the layer."""
    z = ((x1 - mu1) / s1) ** 2 + ((x2 - mu2) / s2) ** 2 - 2 * rho * (x1 - mu1) * (x2 - mu2) / (s1 * s2)
    return math.exp(-z / (2 * (1 - rho**2))) / (2 * math.pi * s1 * s2 * math.sqrt(1 - rho**2))


def test_standard_normal_component_by_hand():
    mdn = MixtureDensityOutput(1)
    # e = 1/(1+e^0) = 0.5, π = 1, μ = 0, σ = 1, ρ = 0; target (1, 0), end of stroke.
    loss = mdn.negative_log_likelihood(np.array([[1.0, 0.0, 1.0]], "float32"), raw(0, [0], [0], [0], [0], [0], [0]))
    assert float(loss[0]) == pytest.approx(math.log(2 * math.pi) + 0.5 + math.log(2), rel=1e-6)  # 3.031024


def test_two_correlated_components_match_eq_26():
    mdn = MixtureDensityOutput(2)
    e_hat, pi_hat = -1.2, [0.3, -0.4]
    mu1, mu2, s1_hat, s2_hat, rho_hat = [0.5, -1.0], [-0.5, 0.2], [1.0, -0.3], [0.0, 0.4], [math.atanh(0.5), -1.5]
    y_hat = raw(e_hat, pi_hat, mu1, mu2, s1_hat, s2_hat, rho_hat)
    pis = np.exp(pi_hat) / np.exp(pi_hat).sum()
    e = 1 / (1 + math.exp(e_hat))
    for x1, x2, eos in [(1.0, 0.5, 0.0), (-0.7, 0.1, 1.0)]:
        density = sum(pis[j] * bivariate_normal(x1, x2, mu1[j], mu2[j], math.exp(s1_hat[j]), math.exp(s2_hat[j]),
                                                math.tanh(rho_hat[j])) for j in range(2))
        expected = -math.log(density) - math.log(e if eos else 1 - e)
        loss = mdn.negative_log_likelihood(np.array([[x1, x2, eos]], "float32"), y_hat)
        assert float(loss[0]) == pytest.approx(expected, rel=1e-5)


def test_mixture_parameters_and_bias():
    mdn = MixtureDensityOutput(2)
    y_hat = raw(0.0, [1.0, 0.0], [0, 0], [0, 0], [0.5, 0.5], [0, 0], [0.2, 0.2])
    p = mdn.mixture(y_hat)
    np.testing.assert_allclose(p["weights"][0], [math.e / (math.e + 1), 1 / (math.e + 1)], rtol=1e-6)
    np.testing.assert_allclose(p["sigma1"][0], [math.exp(0.5)] * 2, rtol=1e-6)
    np.testing.assert_allclose(p["rho"][0], [math.tanh(0.2)] * 2, rtol=1e-6)
    biased = mdn.mixture(y_hat, bias=2.0)  # eqs. 61-62: σ = exp(σ̂ - b), π = softmax(π̂ (1 + b))
    np.testing.assert_allclose(biased["sigma1"][0], [math.exp(-1.5)] * 2, rtol=1e-6)
    np.testing.assert_allclose(biased["weights"][0, 0], math.exp(3) / (math.exp(3) + 1), rtol=1e-6)
    assert float(biased["end_of_stroke"][0]) == float(p["end_of_stroke"][0]) == 0.5


def test_extreme_correlation_and_tiny_sigma_stay_finite():
    mdn = MixtureDensityOutput(1)
    # tanh(12) rounds to 1 in float32: a naive log(1 - ρ²) is log(0).
    y_hat = raw(0, [0], [0], [0], [-3], [-3], [12.0])
    loss = float(mdn.negative_log_likelihood(np.array([[0.01, 0.01, 0.0]], "float32"), y_hat)[0])
    # float64 reference with the exact 1 - tanh² = sech².
    one_minus_rho2 = 1 / math.cosh(12.0) ** 2
    s = math.exp(-3)
    z = (0.01 / s) ** 2 * 2 - 2 * math.tanh(12.0) * (0.01 / s) ** 2
    expected = (math.log(2 * math.pi * s * s) + 0.5 * math.log(one_minus_rho2) + z / (2 * one_minus_rho2)
                + math.log(2))
    assert math.isfinite(loss) and loss == pytest.approx(expected, rel=1e-5)
    grads_input = tf.constant(y_hat)
    with tf.GradientTape() as tape:
        tape.watch(grads_input)
        value = mdn.negative_log_likelihood(tf.constant([[0.5, -0.5, 1.0]]), grads_input)
    assert np.isfinite(tape.gradient(value, grads_input).numpy()).all()


def test_sampling_matches_the_distribution():
    mdn = MixtureDensityOutput(1)
    y_hat = np.repeat(raw(math.log(3), [0], [1.0], [-2.0], [math.log(2)], [0], [math.atanh(0.5)]), 20000, axis=0)
    samples = mdn.sample(y_hat, seed=(1, 2)).numpy()
    assert samples.shape == (20000, 3)
    np.testing.assert_allclose(samples[:, :2].mean(0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(np.cov(samples[:, :2].T), [[4.0, 1.0], [1.0, 1.0]], atol=0.1)
    assert set(np.unique(samples[:, 2])) == {0.0, 1.0}
    assert samples[:, 2].mean() == pytest.approx(0.25, abs=0.02)  # e = 1 / (1 + 3)


def test_bias_sharpens_samples_and_seed_fixes_them():
    mdn = MixtureDensityOutput(2)
    y_hat = np.repeat(raw(0, [2.0, 0.0], [1.0, -5.0], [1.0, 5.0], [0, 0], [0, 0], [0, 0]), 500, axis=0)
    sharp = mdn.sample(y_hat, bias=10.0, seed=(3, 4)).numpy()
    np.testing.assert_allclose(sharp[:, :2], np.tile([1.0, 1.0], (500, 1)), atol=1e-3)
    np.testing.assert_array_equal(mdn.sample(y_hat, seed=(5, 6)).numpy(), mdn.sample(y_hat, seed=(5, 6)).numpy())
    assert not np.array_equal(mdn.sample(y_hat, seed=(5, 6)).numpy(), mdn.sample(y_hat, seed=(5, 7)).numpy())


def test_sample_keeps_leading_dimensions():
    mdn = MixtureDensityOutput(3)
    assert mdn.sample(np.zeros((2, 4, 19), "float32")).shape == (2, 4, 3)


def test_projection_size_and_config_round_trip():
    mdn = MixtureDensityOutput(20)
    assert mdn(np.zeros((2, 7, 12), "float32")).shape == (2, 7, 121)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mdn))
    assert restored.num_components == 20
    with pytest.raises(ValueError, match="positive"):
        MixtureDensityOutput(0)
