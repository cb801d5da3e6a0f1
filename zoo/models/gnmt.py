"""Wu et al. 2016, "Google's Neural Machine Translation System" (GNMT, arXiv 1609.08144)."""

import keras
from keras import ops

from zoo.layers.attention import AdditiveAttention

PAD_ID = 0


@keras.saving.register_keras_serializable(package="zoo")
class GNMT(keras.Model):
    """Deep LSTM encoder-decoder with a bi-directional bottom layer, residuals and additive attention.

    §3 and fig. 1 (layer counts and widths are arguments):
    - encoder: layer 1 is bi-directional (forward and backward LSTMs side by
      side), layers 2..N uni-directional; from layer 3 up each layer's input
      is added to its output (residual, eq. 6);
    - decoder: each layer starts from the final state of the encoder layer at
      its depth (the bottom one from the backward LSTM), as the reference
      implementation does (tensorflow/nmt, `pass_hidden_state`); layer 1
      reads the previous target word; its output y_i is the
      attention query, s_t = vᵀ tanh(W1 x_t + W2 y_i + b), p = softmax(s),
      a_i = Σ_t p_t x_t over the top encoder outputs x_t (`AdditiveAttention`);
      a_i is fed to every decoder layer above (their input is [h^{n-1}_i; a_i]),
      with residuals from layer 3 up, as in the encoder; a softmax over the
      top layer's output gives the next word.

    The paper's model has 8 + 8 layers of 1024 units; those are the defaults.

    Call arguments:
        inputs: `(source_ids [batch, S], decoder_inputs [batch, T])`, int,
            0-padded; decoder inputs start with the START id.
        return_attention: also return the attention `[batch, T, S]`.

    Returns:
        logits `[batch, T, vocabulary_size]` (and the attention).
    """

    def __init__(self, vocabulary_size, embedding_dim=1024, units=1024, encoder_layers=8, decoder_layers=8,
                 attention_units=1024, use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        if encoder_layers < 2 or decoder_layers < 2:
            raise ValueError("GNMT needs at least 2 encoder layers (one bi-directional) and 2 decoder layers "
                             f"(attention feeds the ones above the first), got {encoder_layers} and {decoder_layers}")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.attention_units = attention_units
        self.use_cudnn = use_cudnn
        self.source_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="source_embedding")
        self.target_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="target_embedding")
        self.bottom_encoder = keras.layers.Bidirectional(
            keras.layers.LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn), name="encoder_0")
        self.encoder = [keras.layers.LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                                          name=f"encoder_{n}") for n in range(1, encoder_layers)]
        self.decoder = [keras.layers.LSTM(units, return_sequences=True, use_cudnn=use_cudnn, name=f"decoder_{n}")
                        for n in range(decoder_layers)]
        self.attention = AdditiveAttention(attention_units, name="attention")
        self.projection = keras.layers.Dense(vocabulary_size, name="projection")

    def call(self, inputs, return_attention=False, training=False):
        source_ids, decoder_inputs = inputs
        encoded, source_mask, states = self._encode(source_ids, training)
        mask = ops.not_equal(decoder_inputs, PAD_ID)
        y = self.decoder[0](self.target_embedding(decoder_inputs), mask=mask, initial_state=states[0],
                            training=training)
        # Teacher forcing knows every query at once: one attention per target step.
        context, attention = self.attention(encoded, query=y, mask=source_mask)
        for n, layer in enumerate(self.decoder[1:], start=1):
            output = layer(ops.concatenate([y, context], axis=-1), mask=mask, initial_state=states[n],
                           training=training)
            y = self._residual(n, y, output)
        logits = self.projection(y)
        return (logits, attention) if return_attention else logits

    @staticmethod
    def _residual(n, below, output):
        """Eq. 6: from the third layer (n = 2) up, a layer's input from below is added to its output."""
        return output + below if n >= 2 else output

    def _encode(self, source_ids, training=False):
        """(top encoder outputs, source mask, each decoder layer's initial `[h, c]` or None)."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        mask = ops.not_equal(source_ids, PAD_ID)
        x, _, _, h, c = self.bottom_encoder(self.source_embedding(source_ids), mask=mask, training=training)
        states = [[h, c]]  # the backward LSTM's: it ends on the first source word
        for n, layer in enumerate(self.encoder, start=1):
            output, h, c = layer(x, mask=mask, training=training)
            x = self._residual(n, x, output)
            states.append([h, c])
        # Decoder layers above the encoder's depth start from zeros.
        return x, mask, (states + [None] * self.decoder_layers)[: self.decoder_layers]

    def encode(self, source_ids):
        """The decoding state for `zoo.decoding`: encoder outputs, source mask, attention keys, each layer's `h`, `c`.
        """
        encoded, mask, states = self._encode(source_ids)
        zeros = ops.zeros((ops.shape(encoded)[0], self.units))
        if not self.attention.built:
            self.attention.build(encoded.shape, (None, self.units))
        # The attention's W1 x + b, once for the whole decode instead of once a step.
        state = {"encoded": encoded, "source_mask": mask, "keys": self.attention.project(encoded)}
        for n, pair in enumerate(states):
            state[f"h_{n}"], state[f"c_{n}"] = pair if pair is not None else (zeros, zeros)
        return state

    def decode_step(self, tokens, state):
        """One step: previous tokens `[rows]` → (log-probabilities `[rows, vocabulary]`, state, attention `[rows, S]`).
        """
        new_state = {name: state[name] for name in ("encoded", "source_mask", "keys")}
        y, context, attention = self._embed_tokens(tokens), None, None
        for n, layer in enumerate(self.decoder):
            inputs = y if n == 0 else ops.concatenate([y, context], axis=-1)
            output, (h, c) = layer.cell(inputs, [state[f"h_{n}"], state[f"c_{n}"]])
            new_state[f"h_{n}"], new_state[f"c_{n}"] = h, c
            y = self._residual(n, y, output) if n else output
            if n == 0:
                context, attention = self.attention(state["encoded"], query=y, mask=state["source_mask"],
                                                    keys=state["keys"])
        return ops.log_softmax(self.projection(y), axis=-1), new_state, attention

    def _embed_tokens(self, tokens):
        # A plain lookup: the layer would attach a padding mask that the cells below cannot take.
        return ops.take(self.target_embedding.embeddings, tokens, axis=0)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "encoder_layers": self.encoder_layers, "decoder_layers": self.decoder_layers,
                "attention_units": self.attention_units, "use_cudnn": self.use_cudnn}
