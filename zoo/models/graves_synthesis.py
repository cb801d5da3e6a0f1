"""Graves 2013 §5, handwriting synthesis: the network writes a given text, by hand.

The prediction network of §4 (`GravesHandwritingModel`) with a soft window
over the text (fig. 12): the first LSTM layer computes the window
(`WindowedLSTM`), every layer above reads the pen, the layer below and the
window, and every layer feeds the mixture density output:

    h¹_t = LSTM([x_t; w_{t-1}], h¹_{t-1})              (w_t, κ_t, φ_t) = window(h¹_t)
    hⁿ_t = LSTM([x_t; hⁿ⁻¹_t; w_t], hⁿ_{t-1})          n = 2..N
    ŷ_t  = MixtureDensityOutput([h¹_t; ...; hᴺ_t])

Sampling (`sample`) runs `zoo.decoding.decode` over `decode_step`: each
step draws a pen offset with the bias b of §5.4; a row stops by the rule of
§5.3, when φ(t, U + 1) > φ(t, u) for every 1 ≤ u ≤ U — the window has
moved past the last character — or after `max_steps`.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from zoo import decoding
from zoo.layers.lstm import LSTM
from zoo.layers.mdn import MixtureDensityOutput
from zoo.layers.soft_window import WindowedLSTM
from zoo.text.reserved import PAD_ID, UNK_ID

PEN_UP = (0.0, 0.0, 1.0)  # the point before a line's first one


@keras.saving.register_keras_serializable(package="zoo")
class GravesSynthesisModel(keras.Model):
    """Handwriting synthesis (§5): pen offsets and a text → mixture density over the next offset.

    Defaults are the paper's: 3 layers of 400 LSTM units, 20 mixture
    components, 10 window components.

    Args:
        alphabet_size: character ids, `[PAD]` (0) and `[UNK]` (1) included.
        units, num_layers, num_components, window_components: sizes.
        window_step: characters the window moves a point at the start of
            training (`SoftWindow`'s `initial_step`); about 1 / the data's
            points per character.

    Call arguments:
        inputs: `(strokes [batch, time, 3], char_ids [batch, U])`: normalised
            pen offsets (Δx, Δy, end of stroke), and the text as character
            ids, `PAD_ID`-padded.
        point_mask: optional bool `[batch, time]`, false for padded points.
        return_alignment: also return φ `[batch, time, U]`.

    Returns:
        ŷ `[batch, time, 1 + 6 * num_components]` (and φ); train it with
        `zoo.layers.mdn.MixtureDensityLoss(num_components)`.

    Example:

    >>> import numpy as np
    >>> from zoo.models import GravesSynthesisModel
    >>> model = GravesSynthesisModel(alphabet_size=6, units=8, num_layers=2, num_components=3, window_components=2)
    >>> strokes, text = np.zeros((2, 7, 3), "float32"), np.array([[2, 3, 4], [5, 2, 0]])
    >>> y_hat, alignment = model((strokes, text), return_alignment=True)
    >>> tuple(y_hat.shape), tuple(alignment.shape)
    ((2, 7, 19), (2, 7, 3))
    >>> drawn = model.sample(text, max_steps=15, bias=1.0, seed=[7, 8])
    >>> tuple(drawn["strokes"].shape[::2]), tuple(drawn["alignment"].shape[::2])  # batch, U
    ((2, 3), (2, 3))
    """

    def __init__(self, alphabet_size, units=400, num_layers=3, num_components=20, window_components=10,
                 window_step=0.05, **kwargs):
        super().__init__(**kwargs)
        if alphabet_size < 3:
            raise ValueError(f"alphabet_size must be at least 3 (padding, [UNK], a character), got {alphabet_size}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.alphabet_size = alphabet_size
        self.units = units
        self.num_layers = num_layers
        self.num_components = num_components
        self.window_components = window_components
        self.window_step = window_step
        # In float32 under a mixed policy: κ accumulates the window's steps over the whole line and φ is an
        # exponential of its distance to each character; bfloat16's 8 bits of mantissa would blur both.
        self.windowed = WindowedLSTM(units, window_components, window_step, dtype="float32", name="windowed_lstm")
        self.upper = [LSTM(units, return_sequences=True, return_state=True, use_cudnn=False,
                           name=f"lstm_{n}") for n in range(1, num_layers)]
        self.mixture_density = MixtureDensityOutput(num_components, dtype="float32", name="mixture_density")

    @staticmethod
    def example_input():
        """The smallest valid input: a pen-up point and a text of one character."""
        return np.array([[PEN_UP]], np.float32), np.full((1, 1), UNK_ID, np.int32)

    def _text(self, char_ids):
        char_ids = ops.convert_to_tensor(char_ids, "int32")
        return ops.one_hot(char_ids, self.alphabet_size), ops.not_equal(char_ids, PAD_ID)

    def call(self, inputs, point_mask=None, return_alignment=False, training=False):
        strokes, char_ids = inputs
        characters, character_mask = self._text(char_ids)
        h, w, phi, _ = self.windowed(strokes, characters, character_mask, point_mask=point_mask)
        hidden = [h]
        for layer in self.upper:
            h, _, _ = layer(ops.concatenate([strokes, h, w], axis=-1), mask=point_mask, training=training)
            hidden.append(h)
        y_hat = self.mixture_density(ops.concatenate(hidden, axis=-1))
        return (y_hat, phi[:, :, :-1]) if return_alignment else y_hat

    def initial_state(self, char_ids):
        """The decoding state before the first point: the text and every layer's zero state."""
        characters, character_mask = self._text(char_ids)
        batch = ops.shape(characters)[0]
        state = {"characters": characters, "character_mask": character_mask}
        for name, value in zip(("h_0", "c_0", "kappa", "w"), self.windowed.zero_state(batch, self.alphabet_size)):
            state[name] = value
        for n in range(1, self.num_layers):
            state[f"h_{n}"] = state[f"c_{n}"] = ops.zeros((batch, self.units))
        return state

    def decode_step(self, points, state):
        """One step for `zoo.decoding.decode`: pen offsets `[rows, 3]` → (output, state, φ `[rows, U]`).

        `output` holds ŷ and `finished`, true where §5.3's rule says the text is written.
        """
        h, phi, (h0, c0, kappa, w) = self.windowed.step(points, [state["h_0"], state["c_0"], state["kappa"],
                                                                 state["w"]], state["characters"],
                                                        state["character_mask"])
        new_state = {**state, "h_0": h0, "c_0": c0, "kappa": kappa, "w": w}
        hidden = [h]
        for n, layer in enumerate(self.upper, start=1):
            h, (new_state[f"h_{n}"], new_state[f"c_{n}"]) = layer.cell(
                ops.concatenate([points, h, w], axis=-1), [state[f"h_{n}"], state[f"c_{n}"]])
            hidden.append(h)
        y_hat = self.mixture_density(ops.concatenate(hidden, axis=-1))
        # φ of padded positions is 0, so the max runs over the row's real characters.
        finished = phi[:, -1] > ops.max(phi[:, :-1], axis=-1)
        return {"y_hat": y_hat, "finished": finished}, new_state, phi[:, :-1]

    def prime(self, style_strokes, style_lengths, char_ids):
        """The decoding state after reading a writer's strokes (§5.5, primed sampling), and their last point.

        `char_ids` is the whole text: the style strokes' transcription, a
        space, then the text to write. The network reads `style_strokes`
        `[batch, S, 3]` (normalised offsets; row b's first `style_lengths[b]`
        points) as in training, with the window over that text; sampling
        from the returned state goes on in that writer's hand, the window
        past the style text.
        """
        style_strokes = ops.convert_to_tensor(style_strokes, "float32")
        rows, points = ops.shape(style_strokes)[0], ops.shape(style_strokes)[1]
        real = ops.arange(points)[None, :] < ops.reshape(ops.convert_to_tensor(style_lengths, "int32"), (-1, 1))
        first = ops.broadcast_to(ops.convert_to_tensor(PEN_UP), (rows, 1, 3))
        inputs = ops.concatenate([first, style_strokes[:, :-1]], axis=1)  # each point reads the one before it
        state = self.initial_state(char_ids)
        h, w, _, (h0, c0, kappa, w_last) = self.windowed(inputs, state["characters"], state["character_mask"],
                                                         point_mask=real)
        state.update({"h_0": h0, "c_0": c0, "kappa": kappa, "w": w_last})
        for n, layer in enumerate(self.upper, start=1):
            h, state[f"h_{n}"], state[f"c_{n}"] = layer(ops.concatenate([inputs, h, w], axis=-1), mask=real)
        last = tf.gather(style_strokes, ops.maximum(ops.reshape(style_lengths, (-1,)) - 1, 0), batch_dims=1)
        return state, last

    def sample(self, char_ids, max_steps, bias=0.0, seed=0, state=None, first_point=None):
        """Writes each text: `{"strokes" [batch, T, 3], "lengths", "finished", "alignment" [batch, T, U]}`.

        Strokes are normalised offsets, zero after a row's end; a row ends
        by §5.3's rule (`finished` true) or after `max_steps` points (false).
        `bias` (§5.4) and `seed` are numbers or `[batch]`: each row draws
        from its own stateless seed (folded with the step), so a row's
        handwriting depends on its text, bias and seed only, not on the
        rows beside it. `state`, `first_point`: go on from `prime`'s state
        and last point instead of a fresh network and a pen-up.
        """
        if state is None:
            state = self.initial_state(char_ids)
        rows = ops.shape(state["characters"])[0]
        bias = ops.broadcast_to(ops.cast(bias, "float32"), (rows,))[:, None]
        seed = tf.broadcast_to(tf.cast(seed, tf.int64), [rows])

        def draw(output, t):
            step_seeds = tf.stack([seed, tf.fill([rows], tf.cast(t, tf.int64))], axis=1)
            point = self.mixture_density.sample(output["y_hat"], bias, step_seeds)
            return point, tf.zeros([rows])

        if first_point is None:
            first_point = ops.broadcast_to(ops.convert_to_tensor(PEN_UP), (rows, 3))
        out = decoding.decode(self.decode_step, state, first_point, max_steps, draw,
                              is_end=lambda output, picked: output["finished"])
        return {"strokes": out["outputs"], "lengths": out["lengths"], "finished": out["ended"],
                "alignment": out["attention"]}

    def get_config(self):
        return {**super().get_config(), "alphabet_size": self.alphabet_size, "units": self.units,
                "num_layers": self.num_layers, "num_components": self.num_components,
                "window_components": self.window_components, "window_step": self.window_step}
