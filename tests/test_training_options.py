"""What the recipes train with beyond Keras's defaults: label smoothing, the cosine schedule, checkpoint averaging."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import training
from zoo.losses import LabelSmoothedCrossentropy

LABELS = np.array([[3, 1, 4, 0, 0], [2, 2, 0, 0, 0]])  # 0 is padding
LOGITS = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")


def test_without_smoothing_it_is_keras_sparse_crossentropy_over_the_real_positions():
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)(LABELS, LOGITS)
    np.testing.assert_allclose(LabelSmoothedCrossentropy(0.0, ignore_class=0)(LABELS, LOGITS), expected, rtol=1e-6)


def test_smoothing_is_keras_categorical_crossentropy_of_smoothed_one_hot_labels():
    smoothed = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2, reduction=None)(
        tf.one_hot(LABELS, 6), LOGITS).numpy()
    real = LABELS != 0
    expected = smoothed[real].mean()  # the mean over the five real positions, not over all ten
    np.testing.assert_allclose(LabelSmoothedCrossentropy(0.2, ignore_class=0)(LABELS, LOGITS), expected, rtol=1e-6)
    everywhere = LabelSmoothedCrossentropy(0.2)(LABELS, LOGITS)
    np.testing.assert_allclose(everywhere, smoothed.mean(), rtol=1e-6)


def test_a_model_whose_logits_carry_the_padding_mask_gets_the_mean_over_the_real_positions():
    """Keras rescales a loss by the logits' mask: it must not divide by the real positions a second time."""
    inputs = keras.Input((5,), dtype="int32")
    logits = keras.layers.Dense(6)(keras.layers.Embedding(7, 4, mask_zero=True)(inputs))  # the mask reaches them
    model = keras.Model(inputs, logits)
    model.compile(loss=LabelSmoothedCrossentropy(0.2, ignore_class=0))
    expected = LabelSmoothedCrossentropy(0.2, ignore_class=0)(LABELS, model.predict(LABELS, verbose=0))
    np.testing.assert_allclose(model.evaluate(LABELS, LABELS, verbose=0), expected, rtol=1e-5)


def test_smoothing_pulls_the_gradient_towards_the_uniform_distribution():
    logits = tf.Variable(np.log(np.float32([[0.7, 0.2, 0.1]])))
    with tf.GradientTape() as tape:
        loss = LabelSmoothedCrossentropy(0.3)(np.array([0]), logits)
    # d loss / d logits = p − q, q = 0.7·[1, 0, 0] + 0.1 (ε / V = 0.3 / 3 on each class)
    np.testing.assert_allclose(tape.gradient(loss, logits), [[0.7 - 0.8, 0.2 - 0.1, 0.1 - 0.1]], atol=1e-6)


def test_smoothing_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        LabelSmoothedCrossentropy(1.0)


def run_options(**values):
    return training.RunOptions("run", "export", **{**dict(lr_schedule="cosine", learning_rate=0.01, epochs=3),
                                                   **values})


def test_cosine_schedule_warms_up_then_decays_to_zero_at_the_last_step_of_the_run():
    schedule = training.learning_rate(run_options(warmup_steps=2), steps_per_epoch=3)  # 9 steps in all
    rates = [float(schedule(step)) for step in range(10)]
    np.testing.assert_allclose(rates[:3], [0.0, 0.005, 0.01], atol=1e-7)
    assert all(a > b for a, b in zip(rates[2:9], rates[3:9]))  # decays over the 7 steps after the warm-up
    np.testing.assert_allclose(rates[9], 0.0, atol=1e-7)
    np.testing.assert_allclose(float(schedule(2 + 3.5)), 0.005, atol=1e-7)  # half-way through the decay: half


def test_a_pass_over_a_dataset_that_does_not_know_its_length_counts_its_batches():
    unknown = tf.data.Dataset.range(10).filter(lambda x: x >= 0).batch(4)
    assert int(unknown.cardinality()) < 0
    assert training.count_batches(unknown) == 3
    assert training.count_batches(tf.data.Dataset.range(10).batch(4)) == 3


@pytest.mark.parametrize("values, message", [
    (dict(lr_schedule="constant", warmup_steps=3), "--warmup_steps needs --lr_schedule=cosine"),
    (dict(warmup_steps=9), "--warmup_steps=9 leaves nothing to decay: the run has 9 steps"),
])
def test_a_schedule_that_cannot_run_is_a_recipe_error(values, message):
    with pytest.raises(training.RecipeError, match=message):
        training.learning_rate(run_options(**values), steps_per_epoch=3)


def test_epoch_weights_keep_the_last_epochs_and_average_them(tmp_path):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    x, y = np.ones((4, 2), np.float32), np.full((4, 1), 3.0, np.float32)
    weights = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights()))
    folder = str(tmp_path / "epochs")
    model.fit(x, y, epochs=4, verbose=0, callbacks=[training.EpochWeights(folder, keep=3), record])
    paths = training.epoch_weight_files(folder)
    assert [os.path.basename(p) for p in paths] == [f"epoch_000{e}.weights.h5" for e in (2, 3, 4)]
    assert not [name for name in os.listdir(folder) if ".tmp." in name]
    training.average_weights(model, paths)
    for averaged, *per_epoch in zip(model.get_weights(), *weights[1:]):
        np.testing.assert_allclose(averaged, np.mean(per_epoch, axis=0), rtol=1e-6)
        assert not np.allclose(averaged, per_epoch[-1])  # SGD moved the weights: the mean is not the last


def test_best_epoch_keeps_the_weights_of_the_lowest_validation_loss_across_a_resume(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    folder = str(tmp_path / "best")

    def epochs(callback, losses, first):
        kept = {}
        callback.set_model(model)
        for epoch, loss in enumerate(losses, start=first):
            model.set_weights([np.full((2, 1), epoch, np.float32), np.full((1,), epoch, np.float32)])
            callback.on_epoch_end(epoch, {"val_loss": loss})
            kept[epoch] = model.get_weights()
        return kept

    epochs(training.BestEpoch(folder), [3.0, 2.0, 2.5], first=0)
    assert training.BestEpoch(folder).best() == {"epoch": 2, "val_loss": 2.0}
    resumed = training.BestEpoch(folder)  # a new process: the record on disk decides
    epochs(resumed, [2.0, 1.5, 1.7], first=3)  # a tie does not replace the earlier epoch
    assert resumed.best() == {"epoch": 5, "val_loss": 1.5}
    model.load_weights(resumed.weights)
    np.testing.assert_array_equal(model.get_weights()[0], np.full((2, 1), 4.0))
    assert sorted(os.listdir(folder)) == ["best.json", "best.weights.h5"]


def test_keep_best_with_checkpoint_averaging_is_a_recipe_error(tmp_path):
    options = run_options(keep_best=True, average_epochs=3)
    with pytest.raises(training.RecipeError, match="--keep_best exports one epoch's weights"):
        training.prepare_run(options)
