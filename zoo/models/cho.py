"""Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation" (arXiv 1406.1078)."""

import keras
from keras import ops

from zoo.layers.maxout import Maxout

PAD_ID = 0


@keras.saving.register_keras_serializable(package="zoo")
class ChoEncoderDecoder(keras.Model):
    """A GRU encoder summarises the source in c; c enters every decoder step and the output layer.

    §2.2 and appendix A: the encoder GRU reads x_1..x_T; the summary is

        c = tanh(V h_T)

    The decoder starts from h'_0 = tanh(V' c), and its hidden state is
    h'_t = f(h'_{t-1}, y_{t-1}, c): every gate of its GRU (§2.3, eqs. 5-8)
    sees e(y_{t-1}) and c, which is a GRU whose input is [e(y_{t-1}); c]. The
    output layer (A.1.2) is a maxout of pools of 2 over

        s'_t = O_h h'_t + O_y e(y_{t-1}) + O_c c

    followed by a softmax G s_t. The GRU is the paper's: the reset gate acts
    before the recurrent matrix (Keras's `reset_after=False`).

    Defaults are the paper's: 1000 hidden units, 100-dimensional embeddings,
    500 maxout units.

    Call arguments:
        inputs: `(source_ids [batch, S], decoder_inputs [batch, T])`, int,
            0-padded; decoder inputs start with the START id.

    Returns:
        logits `[batch, T, vocabulary_size]`.
    """

    def __init__(self, vocabulary_size, embedding_dim=100, units=1000, maxout_units=500, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.maxout_units = maxout_units
        self.source_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="source_embedding")
        self.target_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="target_embedding")
        self.encoder = keras.layers.GRU(units, reset_after=False, name="encoder")
        self.summary = keras.layers.Dense(units, activation="tanh", name="summary")  # c = tanh(V h_T)
        self.decoder_start = keras.layers.Dense(units, activation="tanh", name="decoder_start")  # tanh(V' c)
        self.decoder = keras.layers.GRU(units, reset_after=False, return_sequences=True, name="decoder")
        self.maxout = Maxout(maxout_units, pool_size=2, name="maxout")
        self.projection = keras.layers.Dense(vocabulary_size, name="projection")  # G

    def call(self, inputs, training=False):
        source_ids, decoder_inputs = inputs
        c = self.context(source_ids, training)
        embedded = self.target_embedding(decoder_inputs)
        c_each_step = ops.broadcast_to(c[:, None], (*ops.shape(embedded)[:2], self.units))
        hidden = self.decoder(ops.concatenate([embedded, c_each_step], axis=-1),
                              mask=ops.not_equal(decoder_inputs, PAD_ID), initial_state=self.decoder_start(c),
                              training=training)
        return self._output(hidden, embedded, c_each_step)

    def _output(self, hidden, embedded, c):
        return self.projection(self.maxout(ops.concatenate([hidden, embedded, c], axis=-1)))

    def context(self, source_ids, training=False):
        """c = tanh(V h_T) `[batch, units]`."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        h_last = self.encoder(self.source_embedding(source_ids), mask=ops.not_equal(source_ids, PAD_ID),
                              training=training)
        return self.summary(h_last)

    def encode(self, source_ids):
        """The decoder's initial state for `zoo.decoding`: `{"h": h'_0, "context": c}`, each `[batch, units]`."""
        c = self.context(source_ids)
        return {"h": self.decoder_start(c), "context": c}

    def decode_step(self, tokens, state):
        """One decoder step: previous tokens `[rows]` → (log-probabilities `[rows, vocabulary]`, state, None)."""
        embedded = self._embed_tokens(tokens)
        c = state["context"]
        h, _ = self.decoder.cell(ops.concatenate([embedded, c], axis=-1), state["h"])
        logits = self._output(h, embedded, c)
        return ops.log_softmax(logits, axis=-1), {"h": h, "context": c}, None

    def _embed_tokens(self, tokens):
        # A plain lookup: the layer would attach a padding mask that the cells below cannot take.
        return ops.take(self.target_embedding.embeddings, tokens, axis=0)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "maxout_units": self.maxout_units}
