"""Maxout units."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class Maxout(keras.layers.Layer):
    """A linear map followed by a max over groups of `pool_size` outputs.

    Goodfellow et al. 2013, "Maxout Networks"; the output layer of Cho et al.
    2014 (arXiv 1406.1078, appendix A.1.2) uses it with pools of 2:

        s'_t = W x_t + b            (units · pool_size numbers)
        s_t,i = max(s'_t,2i-1, s'_t,2i)

    With `pool_size` k, unit i takes the max of the k consecutive pieces
    s'_t,k(i-1)+1 .. s'_t,ki.

    Args:
        units: number of maxout units (outputs).
        pool_size: number of linear pieces each unit takes the max of (k).

    Call arguments:
        inputs: float tensor `[..., features]` (x_t).

    Returns:
        `[..., units]`: s_t.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import Maxout
    >>> maxout = Maxout(units=4, pool_size=2)
    >>> x = np.random.default_rng(0).random((3, 7, 10), "float32")
    >>> tuple(maxout(x).shape)
    (3, 7, 4)
    >>> pieces = np.asarray(maxout.linear(x)).reshape(3, 7, 4, 2)  # s' = W x + b, in pools of 2
    >>> bool(np.array_equal(maxout(x), pieces.max(axis=-1)))
    True
    """

    def __init__(self, units, pool_size=2, **kwargs):
        super().__init__(**kwargs)
        if units <= 0 or pool_size <= 0:
            raise ValueError(f"units and pool_size must be positive, got {units} and {pool_size}")
        self.units = units
        self.pool_size = pool_size
        self.linear = keras.layers.Dense(units * pool_size, name="linear")

    def build(self, input_shape):
        self.linear.build(input_shape)

    def call(self, inputs):
        pieces = self.linear(inputs)
        grouped = ops.reshape(pieces, (*ops.shape(pieces)[:-1], self.units, self.pool_size))
        return ops.max(grouped, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "pool_size": self.pool_size}
