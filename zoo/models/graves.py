"""Graves 2013, "Generating Sequences With Recurrent Neural Networks" (arXiv 1308.0850).

A deep LSTM stack with skip connections (`SkipStackedRNN`, eqs. 1-3) trained
on next-step prediction, with two output distributions:

- text (§3): ŷ_t = softmax(b_y + Σ_n W_{h^n y} h^n_t) over characters, inputs
  one-hot (eq. 5); loss -log Pr(x) in bits per character = nats / ln 2;
- handwriting (§4): ŷ_t → a mixture of bivariate Gaussians over the pen offset
  and a Bernoulli end-of-stroke (`MixtureDensityOutput`, eqs. 17-26).

Both models carry their LSTM states through `call(..., initial_states,
return_states=True)` and generate in-graph with `zoo.decoding.decode`, the
zoo's one generation loop, over their one-step `decode_step`, seeded with
stateless random ops, so an export can sample with no Python in the loop.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import decoding
from zoo.layers.lstm import updates_kept
from zoo.layers.mdn import MixtureDensityOutput
from zoo.layers.stacked_rnn import SkipStackedRNN
from zoo.text.reserved import PAD_ID, UNK_ID


@keras.saving.register_keras_serializable(package="zoo")
class GravesTextModel(keras.Model):
    """Character-level language model (§3): one-hot chars → SkipStackedRNN → softmax.

    Args:
        vocabulary_size: characters, the padding id 0 and `[UNK]` id 1 included.
        units: LSTM units per layer (§3.2 Wikipedia: 700).
        num_layers: stack depth (§3.2 Wikipedia: 7).
        use_cudnn: passed to the LSTMs.
        update_dropout: in training, dropout on the LSTMs' cell updates
            (`zoo.layers.LSTM`; Semeniuta et al. 2016). Graves regularised
            with weight noise instead; 0, his unregularised network, by
            default.

    Call arguments:
        char_ids: int `[batch, time]`; id 0 is padding (masked).
        initial_states: states a previous call returned, to go on from there.
        return_states: also return the states after the last real step.
        padded: False when `char_ids` holds no padding (a text stream): the
            LSTMs then skip the mask's work.

    Returns:
        logits `[batch, time, vocabulary_size]` (and the states).

    Example:

    >>> import numpy as np
    >>> from zoo.models import GravesTextModel
    >>> model = GravesTextModel(vocabulary_size=10, units=8, num_layers=2)
    >>> tuple(model(np.array([[4, 5, 6], [7, 8, 0]])).shape)
    (2, 3, 10)
    >>> drawn = model.generate(np.array([[4, 5], [6, 0]]), length=12, seed=(1, 2))  # after primes "ab", "c"
    >>> tuple(drawn.shape), bool(np.all(drawn >= 2))  # never padding (0) or [UNK] (1)
    ((2, 12), True)
    >>> bool(np.all(model.generate(np.array([[4, 5], [6, 0]]), length=12, seed=(1, 2)) == drawn))  # seeded
    True
    """

    def __init__(self, vocabulary_size, units=700, num_layers=7, use_cudnn="auto", update_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if vocabulary_size < 3:
            raise ValueError(f"vocabulary_size must be at least 3 (padding, [UNK], a character), got {vocabulary_size}")
        self.vocabulary_size = vocabulary_size
        self.units = units
        self.num_layers = num_layers
        self.use_cudnn = use_cudnn
        self.update_dropout = update_dropout
        self.stack = SkipStackedRNN(units, num_layers, use_cudnn=use_cudnn, update_dropout=update_dropout, name="stack")
        self.output_layer = keras.layers.Dense(vocabulary_size, name="output")

    def call(self, char_ids, initial_states=None, return_states=False, training=False, padded=True):
        inputs = ops.one_hot(char_ids, self.vocabulary_size)
        mask = ops.not_equal(char_ids, PAD_ID) if padded else None
        hidden, states = self.stack(inputs, mask=mask, initial_states=initial_states, training=training)
        logits = self.output_layer(hidden)
        return (logits, states) if return_states else logits

    @staticmethod
    def example_input():
        """The smallest valid input: one character of one row."""
        return np.full((1, 1), UNK_ID, np.int32)

    def decode_step(self, char_ids, states):
        """One step for `zoo.decoding`: characters `[rows]` → (log-probabilities `[rows, vocabulary]`, states, None).

        Padding and `[UNK]` get probability 0: a sample never writes them.
        """
        never = tf.reduce_sum(tf.one_hot([PAD_ID, UNK_ID], self.vocabulary_size, on_value=-1e9), axis=0)
        logits, states = self(char_ids[:, None], initial_states=states, return_states=True)
        return tf.nn.log_softmax(logits[:, -1] + never), states, None

    def generate(self, prime_ids, length, temperature=1.0, seed=(0, 0)):
        """Samples `length` characters after each prime: ids `[batch, length]`.

        `prime_ids` `[batch, time]` is right-padded with 0 and has at least one
        character per row. The network reads each prime but its last
        character; `zoo.decoding.sample` goes on from that character, drawing
        each step from softmax(logits / temperature) with a stateless seed
        derived from `seed` and the step, so the same seed gives the same
        text. Padding and `[UNK]` are never drawn.
        """
        prime_ids = tf.convert_to_tensor(prime_ids, tf.int32)
        lengths = tf.reduce_sum(tf.cast(tf.not_equal(prime_ids, PAD_ID), tf.int32), axis=1)
        last = tf.gather(prime_ids, lengths - 1, batch_dims=1)
        read_first = tf.range(tf.shape(prime_ids)[1])[None, :] < lengths[:, None] - 1
        _, states = self(tf.where(read_first, prime_ids, PAD_ID), return_states=True)
        drawn = decoding.sample(self.decode_step, states, last, None, length, temperature, seed)
        return drawn["ids"]

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "units": self.units,
                "num_layers": self.num_layers, "use_cudnn": self.use_cudnn, "update_dropout": self.update_dropout}


def stream_negative_log_likelihood(model, ids, window=100, dynamic_learning_rate=0.0):
    """Nats a character of a `GravesTextModel` reading the stream `ids` in order, its states carried (§3).

    The stream is read in windows of `window` characters, one row, each window
    starting from the states the previous one ended in: the model sees the
    whole text before each character, as when Graves evaluates, not windows
    that start from zero states. With `dynamic_learning_rate` > 0, dynamic
    evaluation (§3.1; Krause et al. 2018): after scoring a window, one
    stochastic gradient step on it adapts the weights to the text read so
    far (the model's weights are restored at the end). Returns the mean of
    -log p(x_{t+1} | x_1..x_t) over the stream's characters after the first.
    """
    ids = np.asarray(ids, np.int32)
    if len(ids) < 2:
        raise ValueError(f"the stream needs at least 2 characters, got {len(ids)}")
    spec = tf.TensorSpec([1, None], tf.int32)
    state_specs = [[tf.TensorSpec([1, model.units], tf.float32)] * 2 for _ in range(model.num_layers)]

    def window_nll(inputs, targets, states):
        # In training mode the LSTMs take their written-out backward pass (zoo.layers.LSTM), far cheaper than
        # differentiating their loop; without dropout (`updates_kept`) their outputs are the same in either mode.
        logits, states = model(inputs, initial_states=states, return_states=True, padded=False,
                               training=bool(dynamic_learning_rate))
        nll = keras.losses.sparse_categorical_crossentropy(targets, tf.cast(logits, tf.float32), from_logits=True)
        return tf.reduce_sum(nll), states

    @tf.function(input_signature=[spec, spec, state_specs, tf.TensorSpec([], tf.float32)])
    def read(inputs, targets, states, learning_rate):
        with tf.GradientTape() as tape:
            nll, states = window_nll(inputs, targets, states)
            mean_nll = nll / tf.cast(tf.size(targets), tf.float32)
        if dynamic_learning_rate:
            gradients = tape.gradient(mean_nll, model.trainable_variables)
            for variable, gradient in zip(model.trainable_variables, gradients):
                variable.assign_sub(learning_rate * tf.cast(gradient, variable.dtype))
        return nll, states

    weights = model.get_weights()
    states = [[tf.zeros((1, model.units)), tf.zeros((1, model.units))] for _ in range(model.num_layers)]
    total = 0.0
    try:
        with updates_kept(model.stack.cells):
            for start in range(0, len(ids) - 1, window):
                targets = ids[start + 1: start + window + 1]
                nll, states = read(ids[None, start: start + len(targets)], targets[None], states,
                                   tf.constant(dynamic_learning_rate, tf.float32))
                total += float(nll)
    finally:
        model.set_weights(weights)
    return total / (len(ids) - 1)


@keras.saving.register_keras_serializable(package="zoo")
class CarriedStateTrainer(keras.Model):
    """Trains a `GravesTextModel` with its LSTM states carried from batch to batch (truncated BPTT, §3).

    Graves trained on one stream, each window starting from the states the
    previous window ended in, so the network learns to use context longer
    than a window; gradients stop at the window's start. This model holds
    those states, one row of `[h, c]` per layer for each row of the batch,
    reads them as the initial states of every call and keeps the states the
    call ends in. Feed it `zoo.data.text_corpus.stream_dataset` batches
    (row r of each batch goes on from row r of the previous one) and reset
    the states where a stream starts again (`reset_states`, `ResetStates`).

    Under a `tf.distribute` strategy each replica holds the states of its own
    rows (variables synchronised on read): the strategy gives every replica
    the same rows of each global batch, step after step.

    Args:
        model: the `GravesTextModel` to train; it shares its weights with this one.
        rows: rows of a batch on one replica (the global batch size divided by
            the replicas in sync); every batch must have exactly these many.

    Call arguments:
        char_ids: int `[rows, time]`, no padding (the model skips the mask).
        training: passed to the model.

    Returns:
        logits `[rows, time, vocabulary_size]`; the states move on by `time` steps.

    Example:

    >>> import numpy as np
    >>> from zoo.models import GravesTextModel
    >>> from zoo.models.graves import CarriedStateTrainer
    >>> model = GravesTextModel(vocabulary_size=10, units=8, num_layers=2)
    >>> trainer = CarriedStateTrainer(model, rows=2)
    >>> stream = np.array([[4, 5, 6, 7, 8, 9], [9, 8, 7, 6, 5, 4]])
    >>> _ = trainer(stream[:, :3]), trainer(stream[:, 3:])  # two windows, states carried
    >>> bool(np.allclose(trainer.states[0][0], model(stream, return_states=True)[1][0][0], atol=1e-6))
    True
    """

    def __init__(self, model, rows, **kwargs):
        super().__init__(**kwargs)
        if rows < 1:
            raise ValueError(f"rows must be positive, got {rows}")
        self.model = model
        self.rows = rows
        self.states = [[keras.Variable(np.zeros((rows, model.units), np.float32), trainable=False, name=f"{part}_{n}",
                                       synchronization="on_read", aggregation="only_first_replica")
                        for part in ("h", "c")] for n in range(model.num_layers)]
        self.built = model.built  # its only other weights are the model's

    def build(self, input_shape):
        if not self.model.built:
            self.model(self.model.example_input())

    def call(self, char_ids, training=False):
        initial = [[ops.cast(state, self.model.compute_dtype) for state in layer] for layer in self.states]
        logits, states = self.model(char_ids, initial_states=initial, return_states=True, training=training,
                                    padded=False)
        for variables, values in zip(self.states, states):
            for variable, value in zip(variables, values):
                variable.assign(ops.cast(ops.stop_gradient(value), variable.dtype))
        return logits

    def reset_states(self):
        """Zero states: the next batch starts each row's stream from its beginning."""
        for variables in self.states:
            for variable in variables:
                variable.assign(np.zeros(variable.shape, np.float32))

    def get_config(self):
        return {**super().get_config(), "model": keras.saving.serialize_keras_object(self.model), "rows": self.rows}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        return cls(keras.saving.deserialize_keras_object(config.pop("model")), **config)


class ResetStates(keras.callbacks.Callback):
    """Resets a `CarriedStateTrainer`'s states where its streams start again: each epoch and each evaluation."""

    def on_epoch_begin(self, epoch, logs=None):
        self.model.reset_states()

    def on_test_begin(self, logs=None):
        self.model.reset_states()


@keras.saving.register_keras_serializable(package="zoo")
class GravesHandwritingModel(keras.Model):
    """Unconditional handwriting prediction (§4): pen offsets → SkipStackedRNN → mixture density.

    Defaults are the paper's: 3 layers of 400 LSTM units, 20 mixture components.

    Args:
        units, num_layers, num_components, use_cudnn: as the defaults say.
        update_dropout: in training, dropout on the LSTMs' cell updates, as
            in `GravesTextModel`; 0, the paper's unregularised network, by
            default.

    Call arguments:
        strokes: float `[batch, time, 3]` = (Δx, Δy, end of stroke), normalised.
        initial_states, return_states: as in `GravesTextModel`.

    Returns:
        ŷ `[batch, time, 1 + 6 * num_components]` (and the states); train it
        with `zoo.layers.mdn.MixtureDensityLoss(num_components)`.

    Example:

    >>> import numpy as np
    >>> from zoo.models import GravesHandwritingModel
    >>> model = GravesHandwritingModel(units=8, num_layers=2, num_components=3)
    >>> tuple(model(np.zeros((2, 5, 3), "float32")).shape)  # 1 + 6 · 3
    (2, 5, 19)
    >>> strokes = model.sample(steps=20, bias=0.5, seed=(3, 4))  # normalised (Δx, Δy, end of stroke)
    >>> tuple(strokes.shape), sorted(set(strokes.numpy()[:, 2].tolist())) <= [0.0, 1.0]
    ((20, 3), True)
    """

    def __init__(self, units=400, num_layers=3, num_components=20, use_cudnn="auto", update_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.num_layers = num_layers
        self.num_components = num_components
        self.use_cudnn = use_cudnn
        self.update_dropout = update_dropout
        self.stack = SkipStackedRNN(units, num_layers, use_cudnn=use_cudnn, update_dropout=update_dropout, name="stack")
        # In float32 under a mixed policy: the mixture's parameters (σ = exp σ̂, ρ = tanh ρ̂) and their
        # log-likelihood need more than bfloat16's 8 bits of mantissa.
        self.mixture_density = MixtureDensityOutput(num_components, dtype="float32", name="mixture_density")

    def call(self, strokes, initial_states=None, return_states=False, training=False):
        hidden, states = self.stack(strokes, initial_states=initial_states, training=training)
        y_hat = self.mixture_density(hidden)
        return (y_hat, states) if return_states else y_hat

    def sequence_negative_log_likelihood(self, inputs, targets, weights):
        """Σ_t w_t · (-log Pr(x_{t+1} | y_t)) per row `[batch]`: a line's NLL when a row holds a whole line."""
        y_hat = self(inputs)
        return tf.reduce_sum(self.mixture_density.negative_log_likelihood(targets, y_hat) * weights, axis=-1)

    @staticmethod
    def example_input():
        """The smallest valid input: one pen-up point of one row."""
        return np.array([[[0.0, 0.0, 1.0]]], np.float32)

    def decode_step(self, points, states):
        """One step for `zoo.decoding`: pen offsets `[rows, 3]` → (ŷ `[rows, 1 + 6M]`, states, None)."""
        y_hat, states = self(points[:, None], initial_states=states, return_states=True)
        return y_hat[:, -1], states, None

    def sample(self, steps, bias=0.0, seed=(0, 0)):
        """Draws `steps` pen offsets (normalised), starting from a pen lift: `[steps, 3]`, or `[rows, steps, 3]`.

        Each step samples with the bias of §5.4 and a stateless seed derived
        from `seed` and the step: the same seed gives the same handwriting.
        `seed` `[2]` draws one row; `[rows, 2]` draws a row a seed, each from
        its own seed only, with `bias` a number or `[rows]`.
        """
        seed = tf.cast(seed, tf.int64)
        rows = 1 if seed.shape.rank == 1 else tf.shape(seed)[0]
        row_bias = tf.broadcast_to(tf.cast(bias, tf.float32), [rows])[:, None]

        def draw(y_hat, t):
            if seed.shape.rank == 1:
                step_seed = tf.random.experimental.stateless_fold_in(seed, t)
            else:
                step_seed = tf.map_fn(lambda row_seed: tf.cast(tf.random.experimental.stateless_fold_in(row_seed, t),
                                                               tf.int64), seed)
            point = self.mixture_density.sample(y_hat, row_bias, step_seed)
            return point, tf.zeros(tf.shape(point)[:1])

        states = [[tf.zeros((rows, self.units)), tf.zeros((rows, self.units))] for _ in range(self.num_layers)]
        first = tf.broadcast_to(tf.constant(self.example_input()[0]), [rows, 3])
        drawn = decoding.decode(self.decode_step, states, first, steps, draw)
        return drawn["outputs"][0] if seed.shape.rank == 1 else drawn["outputs"]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "num_components": self.num_components, "use_cudnn": self.use_cudnn,
                "update_dropout": self.update_dropout}
