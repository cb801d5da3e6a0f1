"""Graves 2013, "Generating Sequences With Recurrent Neural Networks" (arXiv 1308.0850).

A deep LSTM stack with skip connections (`SkipStackedRNN`, eqs. 1-3) trained
on next-step prediction, with two output distributions:

- text (§3): ŷ_t = softmax(b_y + Σ_n W_{h^n y} h^n_t) over characters, inputs
  one-hot (eq. 5); loss -log Pr(x) in bits per character = nats / ln 2;
- handwriting (§4): ŷ_t → a mixture of bivariate Gaussians over the pen offset
  and a Bernoulli end-of-stroke (`MixtureDensityOutput`, eqs. 17-26).

Both models carry their LSTM states through `call(..., initial_states,
return_states=True)` and generate in-graph: one `tf.while_loop` of one-step
calls, seeded with stateless random ops, so an export can sample with no
Python in the loop.
"""

import keras
import tensorflow as tf
from keras import ops

from zoo.layers.mdn import MixtureDensityOutput
from zoo.layers.stacked_rnn import SkipStackedRNN

PAD_ID = 0  # character id 0 pads a batch of primes of unequal length
UNK_ID = 1  # characters the vocabulary does not have


@keras.saving.register_keras_serializable(package="zoo")
class GravesTextModel(keras.Model):
    """Character-level language model (§3): one-hot chars → SkipStackedRNN → softmax.

    Args:
        vocabulary_size: characters, the padding id 0 and `[UNK]` id 1 included.
        units: LSTM units per layer (§3.2 Wikipedia: 700).
        num_layers: stack depth (§3.2 Wikipedia: 7).
        use_cudnn: passed to the LSTMs.

    Call arguments:
        char_ids: int `[batch, time]`; id 0 is padding (masked).
        initial_states: states a previous call returned, to go on from there.
        return_states: also return the states after the last real step.

    Returns:
        logits `[batch, time, vocabulary_size]` (and the states).
    """

    def __init__(self, vocabulary_size, units=700, num_layers=7, use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        if vocabulary_size < 3:
            raise ValueError(f"vocabulary_size must be at least 3 (padding, [UNK], a character), got {vocabulary_size}")
        self.vocabulary_size = vocabulary_size
        self.units = units
        self.num_layers = num_layers
        self.use_cudnn = use_cudnn
        self.stack = SkipStackedRNN(units, num_layers, use_cudnn=use_cudnn, name="stack")
        self.output_layer = keras.layers.Dense(vocabulary_size, name="output")

    def call(self, char_ids, initial_states=None, return_states=False, training=False):
        inputs = ops.one_hot(char_ids, self.vocabulary_size)
        hidden, states = self.stack(inputs, mask=ops.not_equal(char_ids, PAD_ID), initial_states=initial_states,
                                    training=training)
        logits = self.output_layer(hidden)
        return (logits, states) if return_states else logits

    def generate(self, prime_ids, length, temperature=1.0, seed=(0, 0)):
        """Samples `length` characters after each prime: ids `[batch, length]`.

        `prime_ids` `[batch, time]` is right-padded with 0 and has at least one
        character per row. Each step draws from softmax(logits / temperature)
        with a stateless seed derived from `seed` and the step, so the same
        seed gives the same text. Padding and `[UNK]` are never drawn.
        """
        lengths = ops.sum(ops.cast(ops.not_equal(prime_ids, PAD_ID), "int32"), axis=1)
        logits, states = self(prime_ids, return_states=True)
        last_logits = tf.gather(logits, lengths - 1, batch_dims=1)
        never = tf.one_hot([PAD_ID, UNK_ID], self.vocabulary_size, on_value=-1e9, off_value=0.0)
        never = tf.reduce_sum(never, axis=0)
        seed = tf.cast(seed, tf.int64)

        def step(t, last_logits, states, drawn):
            scaled = last_logits / tf.cast(temperature, last_logits.dtype) + never
            next_id = tf.random.stateless_categorical(scaled, 1, tf.random.experimental.stateless_fold_in(seed, t),
                                                      dtype=tf.int32)
            drawn = drawn.write(t, next_id[:, 0])
            logits, states = self(next_id, initial_states=states, return_states=True)
            return t + 1, logits[:, -1], states, drawn

        drawn = tf.TensorArray(tf.int32, size=length)
        _, _, _, drawn = tf.while_loop(lambda t, *_: t < length, step, (tf.constant(0), last_logits, states, drawn))
        return tf.transpose(drawn.stack())

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "units": self.units,
                "num_layers": self.num_layers, "use_cudnn": self.use_cudnn}


@keras.saving.register_keras_serializable(package="zoo")
class GravesHandwritingModel(keras.Model):
    """Unconditional handwriting prediction (§4): pen offsets → SkipStackedRNN → mixture density.

    Defaults are the paper's: 3 layers of 400 LSTM units, 20 mixture components.

    Call arguments:
        strokes: float `[batch, time, 3]` = (Δx, Δy, end of stroke), normalised.
        initial_states, return_states: as in `GravesTextModel`.

    Returns:
        ŷ `[batch, time, 1 + 6 * num_components]` (and the states); train it
        with `zoo.layers.mdn.MixtureDensityLoss(num_components)`.
    """

    def __init__(self, units=400, num_layers=3, num_components=20, use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.num_components = num_components
        self.use_cudnn = use_cudnn
        self.stack = SkipStackedRNN(units, num_layers, use_cudnn=use_cudnn, name="stack")
        self.mixture_density = MixtureDensityOutput(num_components, name="mixture_density")

    def call(self, strokes, initial_states=None, return_states=False, training=False):
        hidden, states = self.stack(strokes, initial_states=initial_states, training=training)
        y_hat = self.mixture_density(hidden)
        return (y_hat, states) if return_states else y_hat

    def sequence_negative_log_likelihood(self, inputs, targets, weights):
        """Σ_t w_t · (-log Pr(x_{t+1} | y_t)) per row `[batch]`: a line's NLL when a row holds a whole line."""
        y_hat = self(inputs)
        return tf.reduce_sum(self.mixture_density.negative_log_likelihood(targets, y_hat) * weights, axis=-1)

    def sample(self, steps, bias=0.0, seed=(0, 0)):
        """Draws `steps` pen offsets `[steps, 3]` (normalised), starting from a pen lift.

        Each step samples with the bias of §5.4 and a stateless seed derived
        from `seed` and the step: the same seed gives the same handwriting.
        """
        seed = tf.cast(seed, tf.int64)

        def step(t, point, states, drawn):
            y_hat, states = self(point, initial_states=states, return_states=True)
            point = self.mixture_density.sample(y_hat, bias, tf.random.experimental.stateless_fold_in(seed, t))
            return t + 1, point, states, drawn.write(t, point[0, 0])

        start = tf.constant([[[0.0, 0.0, 1.0]]])
        states = [[tf.zeros((1, self.units)), tf.zeros((1, self.units))] for _ in range(self.num_layers)]
        drawn = tf.TensorArray(tf.float32, size=steps)
        _, _, _, drawn = tf.while_loop(lambda t, *_: t < steps, step, (tf.constant(0), start, states, drawn))
        return drawn.stack()

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "num_components": self.num_components, "use_cudnn": self.use_cudnn}
