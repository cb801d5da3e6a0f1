import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import AdditiveAttention


def hand_set_layer():
    """W = I, b = 0, u_w = [1, 1] on 2-d inputs."""
    layer = AdditiveAttention(2)
    layer.build((None, 3, 2))
    layer.set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32"), np.ones(2, "float32")])
    return layer


H = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], "float32")


def test_three_word_case_matches_the_equations_by_hand():
    # u_t = tanh(h_t): [t, 0], [0, t], [t, t] with t = tanh(1); scores u_tᵀ u_w = t, t, 2t.
    t = math.tanh(1.0)
    z = 2 * math.exp(t) + math.exp(2 * t)
    expected_weights = [math.exp(t) / z, math.exp(t) / z, math.exp(2 * t) / z]
    expected_context = [expected_weights[0] + expected_weights[2], expected_weights[1] + expected_weights[2]]
    context, weights = hand_set_layer()(H)
    np.testing.assert_allclose(weights.numpy()[0], expected_weights, rtol=1e-6)
    np.testing.assert_allclose(context.numpy()[0], expected_context, rtol=1e-6)
    assert expected_weights == pytest.approx([0.241448, 0.241448, 0.517105], abs=1e-6)


def test_masked_word_gets_zero_weight_and_content_is_ignored():
    layer = hand_set_layer()
    mask = np.array([[True, True, False]])
    context, weights = layer(H, mask=mask)
    np.testing.assert_allclose(weights.numpy()[0], [0.5, 0.5, 0.0], atol=1e-7)
    np.testing.assert_allclose(context.numpy()[0], [0.5, 0.5], atol=1e-7)
    garbage = H.copy()
    garbage[0, 2] = [1e6, -1e6]
    context2, weights2 = layer(garbage, mask=mask)
    np.testing.assert_array_equal(weights2.numpy(), weights.numpy())
    np.testing.assert_array_equal(context2.numpy(), context.numpy())


def test_all_masked_sequence_gives_zero_weights_not_nan():
    context, weights = hand_set_layer()(H, mask=np.zeros((1, 3), bool))
    np.testing.assert_array_equal(weights.numpy(), np.zeros((1, 3)))
    np.testing.assert_array_equal(context.numpy(), np.zeros((1, 2)))


def test_large_scores_do_not_overflow():
    layer = hand_set_layer()
    layer.context_vector.assign([1e4, 1e4])
    _, weights = layer(H, mask=np.array([[True, True, True]]))
    assert np.all(np.isfinite(weights.numpy()))
    np.testing.assert_allclose(weights.numpy().sum(), 1.0, rtol=1e-6)


def test_gradients_reach_every_weight():
    layer = AdditiveAttention(4)
    x = tf.random.normal((2, 5, 3))
    with tf.GradientTape() as tape:
        context, _ = layer(x, mask=tf.constant([[True, True, True, False, False], [True] * 5]))
        loss = tf.reduce_sum(context**2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert len(grads) == 3
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_config_round_trip_and_registration():
    layer = AdditiveAttention(7, name="att")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, AdditiveAttention)
    assert restored.units == 7 and restored.name == "att"


def test_rejects_non_positive_units():
    with pytest.raises(ValueError, match="units must be positive"):
        AdditiveAttention(0)


def query_layer():
    """W1 = I, b = 0, v = [1, 1], W2 = [[1, 0]] on 2-d values and a 1-d query."""
    layer = AdditiveAttention(2)
    layer.build((None, 3, 2), (None, 1))
    layer.set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32"), np.ones(2, "float32"),
                       np.array([[1.0, 0.0]], "float32")])
    return layer


def test_query_enters_the_scores_as_in_gnmt():
    # s_t = vᵀ tanh(W1 x_t + W2 y + b) with y = 1: W2 y = [1, 0].
    # x = [1, 0], [0, 1], [1, 1] → tanh([2, 0]), tanh([1, 1]), tanh([2, 1]).
    scores = [math.tanh(2.0), 2 * math.tanh(1.0), math.tanh(2.0) + math.tanh(1.0)]
    z = sum(math.exp(s) for s in scores)
    expected = [math.exp(s) / z for s in scores]
    context, weights = query_layer()(H, query=np.array([[1.0]], "float32"))
    np.testing.assert_allclose(weights.numpy()[0], expected, rtol=1e-6)
    np.testing.assert_allclose(context.numpy()[0], [expected[0] + expected[2], expected[1] + expected[2]], rtol=1e-6)


def test_a_sequence_of_queries_attends_once_per_query():
    layer = query_layer()
    queries = np.array([[[1.0], [-2.0], [0.5]]], "float32")
    mask = np.array([[True, False, True]])
    contexts, weights = layer(H, query=queries, mask=mask)
    assert contexts.shape == (1, 3, 2) and weights.shape == (1, 3, 3)
    for i in range(3):
        context, weight = layer(H, query=queries[:, i], mask=mask)
        np.testing.assert_allclose(weights.numpy()[:, i], weight.numpy(), rtol=1e-6)
        np.testing.assert_allclose(contexts.numpy()[:, i], context.numpy(), rtol=1e-6)
    assert np.all(weights.numpy()[..., 1] == 0.0)


def test_precomputed_keys_give_the_same_attention():
    layer = query_layer()
    query, mask = np.array([[0.3]], "float32"), np.array([[True, True, False]])
    expected = layer(H, query=query, mask=mask)
    given = layer(H, query=query, mask=mask, keys=layer.project(H))
    for a, b in zip(expected, given):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_masked_softmax_under_mixed_precision_has_no_nan():
    # float16 cannot hold the -1e9 given to masked steps: the scores are float32.
    keras.config.set_dtype_policy("mixed_float16")
    try:
        layer = AdditiveAttention(4)
        context, weights = layer(H, mask=np.array([[True, False, True]]))
    finally:
        keras.config.set_dtype_policy("float32")
    assert context.dtype == "float16" and weights.dtype == "float32"
    assert not np.any(np.isnan(context.numpy())) and weights.numpy()[0, 1] == 0.0
    np.testing.assert_allclose(weights.numpy().sum(), 1.0, rtol=1e-6)
