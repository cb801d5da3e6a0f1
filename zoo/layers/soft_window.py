"""Graves 2013 §5: the soft window that lets a handwriting network read the text it writes."""

import math

import keras
import tensorflow as tf
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class SoftWindow(keras.layers.Layer):
    """A mixture of K Gaussians over the positions of a character sequence, moving only forwards.

    Graves 2013, "Generating Sequences With Recurrent Neural Networks", §5.1,
    eqs. (46)-(51): from the first hidden layer's output h¹_t,

        (α̂_t, β̂_t, κ̂_t) = W_{h¹p} h¹_t + b_p
        α_t = exp(α̂_t)    β_t = exp(β̂_t)    κ_t = κ_{t-1} + exp(κ̂_t)
        φ(t, u) = Σ_k α^k_t exp(-β^k_t (κ^k_t - u)²)
        w_t = Σ_{u=1..U} φ(t, u) c_u

    c_u is the one-hot vector of the u-th character (u from 1); κ, the
    components' positions, only grow, so the window slides along the text
    as the pen moves. φ is masked: a padded character position gets
    exactly 0 and adds nothing to w_t.

    Args:
        num_components: K (the paper uses 10).
        initial_step: how far κ moves a step at the start of training, in
            characters: κ̂'s bias starts at log(initial_step). The equations
            are the paper's; only this start differs from a zero bias (a step
            of one character a point). With steps of 1 the window leaves a
            line's text within a few points, the network learns to ignore it
            (seen on the demo set: κ ≈ 48 after one point); IAM-OnDB has about
            22 points a character, so a step near 1/22 starts the window
            where the pen is.

    Call arguments:
        hidden: h¹_t `[batch, units]`.
        kappa: κ_{t-1} `[batch, K]` (zeros at t = 0).
        characters: the one-hot text `[batch, U, alphabet]`.
        character_mask: bool `[batch, U]`, true for real characters.

    Returns:
        `(w_t [batch, alphabet], κ_t [batch, K], φ(t, ·) [batch, U + 1])`:
        φ at u = 1..U and, last, at u = U_b + 1 for each row b (its first
        position after the text), for the stop rule of §5.3.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import SoftWindow
    >>> window = SoftWindow(num_components=2)
    >>> characters = np.eye(4, dtype="float32")[np.array([[1, 2, 3], [3, 1, 0]])]  # "abc", "ca"
    >>> mask = np.array([[True, True, True], [True, True, False]])
    >>> w, kappa, phi = window(np.ones((2, 5), "float32"), np.zeros((2, 2), "float32"), characters, mask)
    >>> tuple(w.shape), tuple(kappa.shape), tuple(phi.shape)
    ((2, 4), (2, 2), (2, 4))
    >>> float(phi[1, 2])  # the padded third position of "ca" is never read
    0.0
    >>> bool(np.all(kappa > 0))  # the window only moves forwards
    True
    """

    def __init__(self, num_components=10, initial_step=1.0, **kwargs):
        super().__init__(**kwargs)
        if num_components <= 0 or initial_step <= 0:
            raise ValueError(f"num_components and initial_step must be positive, got {num_components}, "
                             f"{initial_step}")
        self.num_components = num_components
        self.initial_step = initial_step
        bias = [0.0] * (2 * num_components) + [math.log(initial_step)] * num_components
        self.parameters = keras.layers.Dense(3 * num_components, bias_initializer=keras.initializers.Constant(bias),
                                             dtype=self.dtype_policy, name="parameters")

    def build(self, hidden_shape, kappa_shape=None, characters_shape=None, character_mask_shape=None):
        self.parameters.build(hidden_shape)

    def call(self, hidden, kappa, characters, character_mask):
        alpha_hat, beta_hat, kappa_hat = ops.split(self.parameters(hidden), 3, axis=-1)
        alpha, beta = ops.exp(alpha_hat), ops.exp(beta_hat)
        kappa = kappa + ops.exp(kappa_hat)
        lengths = ops.sum(ops.cast(character_mask, kappa.dtype), axis=1)
        positions = ops.cast(ops.arange(1, ops.shape(characters)[1] + 1), kappa.dtype)
        # u = 1..U, then each row's U_b + 1.
        positions = ops.concatenate([ops.broadcast_to(positions[None], (ops.shape(kappa)[0], ops.shape(positions)[0])),
                                     lengths[:, None] + 1.0], axis=1)
        phi = ops.sum(alpha[:, :, None] * ops.exp(-beta[:, :, None] * (kappa[:, :, None] - positions[:, None]) ** 2),
                      axis=1)
        mask = ops.concatenate([ops.cast(character_mask, phi.dtype), ops.ones_like(lengths)[:, None]], axis=1)
        phi = phi * mask
        w = ops.einsum("bu,bua->ba", phi[:, :-1], ops.cast(characters, phi.dtype))
        return w, kappa, phi

    def get_config(self):
        return {**super().get_config(), "num_components": self.num_components, "initial_step": self.initial_step}


@keras.saving.register_keras_serializable(package="zoo")
class WindowedLSTM(keras.layers.Layer):
    """The first layer of Graves's synthesis network (§5, fig. 12): an LSTM that reads the pen and the text.

        h¹_t = LSTM([x_t; w_{t-1}], h¹_{t-1})        (w_t, κ_t, φ_t) = SoftWindow(h¹_t, κ_{t-1}, c)

    The window of step t is computed from h¹_t and fed to this LSTM's next
    step; the layers above read it at step t (eq. 47: they see w_t). Its
    state is `[h, c, κ, w]`. A masked (padded) step leaves the state as it is.

    Args:
        units: LSTM units.
        num_components, initial_step: of the `SoftWindow`.

    Call arguments:
        inputs: pen offsets `[batch, time, 3]`.
        characters: the one-hot text `[batch, U, alphabet]`.
        character_mask: bool `[batch, U]`.
        point_mask: optional bool `[batch, time]`, false for padded points.
        initial_state: `[h, c, κ, w]` a previous call returned, or None (zeros).

    Returns:
        `(h¹ [batch, time, units], w [batch, time, alphabet], φ [batch, time,
        U + 1], state)`; φ as `SoftWindow` returns it, the last column at each
        row's U_b + 1.

    Example:

    >>> import numpy as np
    >>> from zoo.layers import WindowedLSTM
    >>> layer = WindowedLSTM(units=8, num_components=2)
    >>> characters = np.eye(5, dtype="float32")[np.array([[1, 2, 3, 4]])]
    >>> strokes = np.zeros((1, 6, 3), "float32")
    >>> h, w, phi, state = layer(strokes, characters, np.ones((1, 4), bool))
    >>> tuple(h.shape), tuple(w.shape), tuple(phi.shape), [tuple(s.shape) for s in state]
    ((1, 6, 8), (1, 6, 5), (1, 6, 5), [(1, 8), (1, 8), (1, 2), (1, 5)])
    >>> h2, _, _, _ = layer(strokes[:, 3:], characters, np.ones((1, 4), bool), initial_state=layer(
    ...     strokes[:, :3], characters, np.ones((1, 4), bool))[3])  # goes on where it stopped
    >>> bool(np.allclose(h2, h[:, 3:], atol=1e-6))
    True
    """

    def __init__(self, units, num_components=10, initial_step=1.0, **kwargs):
        super().__init__(**kwargs)
        if units <= 0:
            raise ValueError(f"units must be positive, got {units}")
        self.units = units
        self.num_components = num_components
        self.initial_step = initial_step
        self.cell = keras.layers.LSTMCell(units, dtype=self.dtype_policy, name="lstm")
        self.window = SoftWindow(num_components, initial_step, dtype=self.dtype_policy, name="window")

    def build(self, inputs_shape, characters_shape=None, character_mask_shape=None):
        self.cell.build((inputs_shape[0], inputs_shape[-1] + characters_shape[-1]))
        self.window.build((inputs_shape[0], self.units))

    def zero_state(self, batch, alphabet_size):
        return [ops.zeros((batch, self.units)), ops.zeros((batch, self.units)),
                ops.zeros((batch, self.num_components)), ops.zeros((batch, alphabet_size))]

    def step(self, point, state, characters, character_mask):
        """One step: pen offsets `[batch, 3]` and `[h, c, κ, w]` → (h¹_t, φ_t, new state)."""
        h, c, kappa, w = state
        h, (h, c) = self.cell(ops.concatenate([point, w], axis=-1), [h, c])
        w, kappa, phi = self.window(h, kappa, characters, character_mask)
        return h, phi, [h, c, kappa, w]

    def call(self, inputs, characters, character_mask, point_mask=None, initial_state=None):
        characters = ops.cast(characters, self.compute_dtype)
        if initial_state is None:
            initial_state = self.zero_state(ops.shape(inputs)[0], ops.shape(characters)[-1])
        if point_mask is None:
            point_mask = ops.ones(ops.shape(inputs)[:2], "bool")

        def body(previous, step_inputs):
            state = previous[0]
            point, real = step_inputs
            h, phi, new_state = self.step(point, state, characters, character_mask)
            new_state = [ops.where(real[:, None], new, old) for new, old in zip(new_state, state)]
            return new_state, h, new_state[3], phi

        batch, letters = ops.shape(inputs)[0], ops.shape(characters)[1]
        # tf.scan stacks everything the step returns: the state too, of which the last step's is returned.
        initializer = (list(initial_state), ops.zeros((batch, self.units)), initial_state[3],
                       ops.zeros((batch, letters + 1)))
        time_major = (ops.transpose(inputs, (1, 0, 2)), ops.transpose(point_mask, (1, 0)))
        states, h, w, phi = tf.scan(body, time_major, initializer=initializer)
        return (*(ops.transpose(x, (1, 0, 2)) for x in (h, w, phi)), [s[-1] for s in states])

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_components": self.num_components,
                "initial_step": self.initial_step}
