import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.models import HierarchicalAttentionNetwork

IDS = np.array([
    [[5, 6, 7, 0], [8, 9, 0, 0], [0, 0, 0, 0]],
    [[3, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
], np.int32)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return HierarchicalAttentionNetwork(vocabulary_size=12, num_classes=4, embedding_dim=6, gru_units=5,
                                        attention_units=7)


def test_paper_defaults():
    config = HierarchicalAttentionNetwork(100, 5).get_config()
    assert (config["embedding_dim"], config["gru_units"], config["attention_units"]) == (200, 50, 100)


def test_shapes_and_attention_maps(model):
    probabilities, word_attention, sentence_attention = model(IDS, return_attention=True)
    assert probabilities.shape == (2, 4)
    assert word_attention.shape == (2, 3, 4)
    assert sentence_attention.shape == (2, 3)
    np.testing.assert_allclose(probabilities.numpy().sum(-1), 1.0, rtol=1e-6)
    # Real sentences' word weights sum to 1, padding words and sentences get exactly 0.
    word_sums = word_attention.numpy().sum(-1)
    np.testing.assert_allclose(word_sums, [[1, 1, 0], [1, 0, 0]], atol=1e-6)
    np.testing.assert_array_equal(word_attention.numpy()[IDS == 0], 0.0)
    np.testing.assert_allclose(sentence_attention.numpy(), [[*sentence_attention.numpy()[0, :2], 0], [1, 0, 0]],
                               atol=1e-6)
    assert model(IDS).shape == (2, 4)


def test_extra_padding_does_not_change_the_output(model):
    padded = np.zeros((2, 6, 9), np.int32)
    padded[:, :3, :4] = IDS
    np.testing.assert_allclose(model(padded).numpy(), model(IDS).numpy(), atol=1e-6)


def test_each_document_is_independent_of_its_batch(model):
    np.testing.assert_allclose(model(IDS[1:, :1, :1]).numpy(), model(IDS).numpy()[1:], atol=1e-6)


def test_gradients_reach_every_weight(model):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(tf.constant([1, 2]), model(IDS, training=True)))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == len(model.trainable_variables) > 0
    for variable, grad in zip(model.trainable_variables, grads):
        assert grad is not None, variable.path
        assert float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(grad)))) > 0, variable.path


def test_training_reads_only_the_real_sentences_to_the_same_result(model):
    """Training gathers the sentences that have words (less work); outputs, attention and gradients are those
    of reading every row, as inference does (no dropout in this model)."""
    loss = keras.losses.SparseCategoricalCrossentropy()
    labels = tf.constant([1, 2])
    with tf.GradientTape(persistent=True) as tape:
        trained = model(IDS, training=True, return_attention=True)
        inferred = model(IDS, training=False, return_attention=True)
        trained_loss, inferred_loss = loss(labels, trained[0]), loss(labels, inferred[0])
    for a, b in zip(trained, inferred):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for a, b in zip(tape.gradient(trained_loss, model.trainable_variables),
                    tape.gradient(inferred_loss, model.trainable_variables)):
        np.testing.assert_allclose(tf.convert_to_tensor(a), tf.convert_to_tensor(b), atol=1e-6)


def test_keras_save_and_load_round_trip(model, tmp_path):
    path = tmp_path / "han.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, HierarchicalAttentionNetwork)
    assert restored.get_config() == model.get_config()
    for a, b in zip(restored(IDS, return_attention=True), model(IDS, return_attention=True)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"vocabulary_size": 0, "num_classes": 2}, "vocabulary_size"),
    ({"vocabulary_size": 10, "num_classes": 1}, "num_classes"),
    ({"vocabulary_size": 10, "num_classes": 2, "gru_units": -1}, "gru_units"),
])
def test_bad_configuration_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HierarchicalAttentionNetwork(**kwargs)
