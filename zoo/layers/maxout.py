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

    Args:
        units: number of maxout units (outputs).
        pool_size: inputs each unit takes the max of.
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
