"""Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation" (arXiv 1406.1078)."""

import keras
from keras import ops

from zoo.layers.context_gru import ContextGRU
from zoo.layers.maxout import Maxout
from zoo.models.encoder_decoder import EncoderDecoder


@keras.saving.register_keras_serializable(package="zoo")
class ChoEncoderDecoder(EncoderDecoder):
    """A GRU encoder summarises the source in c; c enters every decoder step and the output layer.

    §2.2 and appendix A: the encoder GRU reads x_1..x_T; the summary is

        c = tanh(V h_T)

    The decoder starts from h'_0 = tanh(V' c), and its hidden state is
    h'_t = f(h'_{t-1}, y_{t-1}, c): every gate of its GRU (§2.3, eqs. 5-8)
    sees e(y_{t-1}) and c, which is a GRU whose input is [e(y_{t-1}); c]. The
    output layer (A.1.2) is a maxout of pools of 2 over

        s'_t = O_h h'_t + O_y e(y_{t-1}) + O_c c

    followed by a softmax G s_t (`projection`). The GRU is the paper's: the
    reset gate acts before the recurrent matrix (Keras's `reset_after=False`);
    `ContextGRU` runs it with the input and context products out of the time
    loop (c is projected once per sentence), with Keras's GRU's weights.

    Defaults are the paper's: 1000 hidden units, 100-dimensional embeddings,
    500 maxout units. Call arguments, `encode` and `decode_step`: see
    `EncoderDecoder`.

    Args:
        vocabulary_size: shared by source and target, reserved ids included.
        embedding_dim, units, maxout_units: sizes.
        dropout: in training, on the embeddings (the GRUs' inputs) and the
            maxout output (`EncoderDecoder`); the paper has none (0).
        **kwargs: `share_embeddings` (`EncoderDecoder`; needs `maxout_units
            == embedding_dim`) and Keras's.

    Example:

    >>> import numpy as np
    >>> from zoo.models import ChoEncoderDecoder
    >>> model = ChoEncoderDecoder(vocabulary_size=20, embedding_dim=8, units=8, maxout_units=4)
    >>> source = np.array([[5, 6, 7], [8, 9, 0]])
    >>> tuple(model((source, np.array([[2, 10], [2, 11]]))).shape)
    (2, 2, 20)
    >>> state = model.encode(source)
    >>> {name: tuple(x.shape) for name, x in sorted(state.items())}
    {'context': (2, 8), 'h': (2, 8)}
    """

    def __init__(self, vocabulary_size, embedding_dim=100, units=1000, maxout_units=500, dropout=0.0, **kwargs):
        super().__init__(vocabulary_size, embedding_dim, dropout, **kwargs)
        self.units = units
        self.maxout_units = maxout_units
        self.encoder = ContextGRU(units, name="encoder")
        self.summary = keras.layers.Dense(units, activation="tanh", name="summary")  # c = tanh(V h_T)
        self.decoder_start = keras.layers.Dense(units, activation="tanh", name="decoder_start")  # tanh(V' c)
        self.decoder = ContextGRU(units, return_sequences=True, name="decoder")  # over [e(y_{t-1}); c]
        self.maxout = Maxout(maxout_units, pool_size=2, name="maxout")
        self.projection = self.output_projection()  # G

    def teacher_forcing(self, source_ids, decoder_inputs, training=False):
        c = self.context(source_ids, training)
        embedded = self.drop(self.target_embedding(decoder_inputs), training)
        hidden = self.decoder(embedded, context=c, mask=self.padding_mask(decoder_inputs),
                              initial_state=self.decoder_start(c), training=training)
        c_each_step = ops.broadcast_to(c[:, None], (*ops.shape(embedded)[:2], self.units))
        return self.projection(self.drop(self._maxout(hidden, embedded, c_each_step), training)), None

    def _maxout(self, hidden, embedded, c):
        return self.maxout(ops.concatenate([hidden, embedded, c], axis=-1))

    def context(self, source_ids, training=False):
        """c = tanh(V h_T) `[batch, units]`."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        h_last = self.encoder(self.drop(self.source_embedding(source_ids), training),
                              mask=self.padding_mask(source_ids), training=training)
        return self.summary(h_last)

    def encode(self, source_ids):
        """The decoding state: `{"h": h'_0, "context": c}`, each `[batch, units]`."""
        c = self.context(source_ids)
        return {"h": self.decoder_start(c), "context": c}

    def decode_step(self, tokens, state):
        embedded = self.embed_previous(tokens)
        c = state["context"]
        h, _ = self.decoder.cell(ops.concatenate([embedded, c], axis=-1), state["h"])
        return self.log_probs(self._maxout(h, embedded, c)), {"h": h, "context": c}, None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "maxout_units": self.maxout_units}
