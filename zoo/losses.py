"""Losses the recipes share beyond Keras's own (the mixture density loss is `zoo.layers.mdn`'s)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class LabelSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy of logits against integer labels smoothed over the classes (Szegedy et al. 2016, §7).

    The target distribution keeps 1 − ε on the label y and spreads ε evenly
    over the V classes, q_v = (1 − ε)·[v = y] + ε / V, so

        loss = −Σ_v q_v log p_v = (1 − ε)·(−log p_y) + ε·mean_v(−log p_v)

    what `keras.losses.CategoricalCrossentropy(label_smoothing=ε)` computes
    from one-hot labels, without a `[batch, T, V]` one-hot tensor. Positions
    whose label is `ignore_class` count for nothing: the loss is the mean
    over the others, as `SparseCategoricalCrossentropy(ignore_class=...)`
    has it. ε = 0 is that loss.

    Args:
        label_smoothing: ε in [0, 1).
        ignore_class: the label of positions that are not targets (padding),
            or None.
        name, **kwargs: passed to `keras.losses.Loss`.

    Example:

    >>> import numpy as np
    >>> from zoo.losses import LabelSmoothedCrossentropy
    >>> logits = np.log(np.float32([[[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]]))  # p over V = 3 classes, 2 positions
    >>> labels = np.array([[1, 0]])  # class 0 is padding: only the first position counts
    >>> loss = LabelSmoothedCrossentropy(label_smoothing=0.3, ignore_class=0)
    >>> round(float(loss(labels, logits)), 4)  # 0.7·log 4 + 0.3·(log 2 + 2 log 4) / 3
    1.317
    """

    def __init__(self, label_smoothing=0.1, ignore_class=None, name="label_smoothed_crossentropy", **kwargs):
        # The loss takes its own mean (`call`) and Keras sums. Keras's mean would divide by the unmasked positions
        # of the logits' padding mask where a model's output carries one, a second time over ignore_class's.
        kwargs.pop("reduction", None)
        super().__init__(name=name, reduction="sum", **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.ignore_class = ignore_class

    def call(self, y_true, y_pred):
        labels = ops.cast(y_true, "int32")
        log_probs = ops.log_softmax(y_pred, axis=-1)
        safe_labels = labels if self.ignore_class is None else ops.where(labels == self.ignore_class, 0, labels)
        label_nll = -ops.squeeze(ops.take_along_axis(log_probs, safe_labels[..., None], axis=-1), axis=-1)
        loss = (1.0 - self.label_smoothing) * label_nll - self.label_smoothing * ops.mean(log_probs, axis=-1)
        if self.ignore_class is None:
            return loss / ops.cast(ops.size(loss), loss.dtype)
        real = ops.cast(labels != self.ignore_class, loss.dtype)
        return loss * real / ops.maximum(ops.sum(real), 1.0)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "ignore_class": self.ignore_class}
