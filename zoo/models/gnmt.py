"""Wu et al. 2016, "Google's Neural Machine Translation System" (GNMT, arXiv 1609.08144)."""

import keras
from keras import ops

from zoo.layers.attention import AdditiveAttention
from zoo.layers.lstm import LSTM
from zoo.models.encoder_decoder import EncoderDecoder


@keras.saving.register_keras_serializable(package="zoo")
class GNMT(EncoderDecoder):
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
    Call arguments (`return_attention=True` gives the attention `[batch, T,
    S]` too), `encode` and `decode_step`: see `EncoderDecoder`.

    Args:
        vocabulary_size: shared by source and target (GNMT's shared wordpieces).
        embedding_dim, units, attention_units: sizes.
        encoder_layers, decoder_layers: depths, at least 2 each.
        use_cudnn: passed to the LSTMs.
        dropout: in training, on every LSTM layer's input and the top decoder
            output (`EncoderDecoder`); the paper trains with 0.2 to 0.3.
        **kwargs: `share_embeddings` (`EncoderDecoder`; needs `units ==
            embedding_dim`) and Keras's.

    Example:

    >>> import numpy as np
    >>> from zoo.models import GNMT
    >>> model = GNMT(vocabulary_size=20, embedding_dim=8, units=8, encoder_layers=2, decoder_layers=2,
    ...              attention_units=8)
    >>> source = np.array([[5, 6, 7], [8, 9, 0]])
    >>> logits, attention = model((source, np.array([[2, 10], [2, 11]])), return_attention=True)
    >>> tuple(logits.shape), tuple(attention.shape)
    ((2, 2, 20), (2, 2, 3))
    >>> np.round(np.sum(attention, axis=-1), 4).tolist()  # a distribution over the source ...
    [[1.0, 1.0], [1.0, 1.0]]
    >>> attention.numpy()[1, :, 2].tolist()  # ... that never looks at padding
    [0.0, 0.0]
    """

    has_attention = True

    def __init__(self, vocabulary_size, embedding_dim=1024, units=1024, encoder_layers=8, decoder_layers=8,
                 attention_units=1024, use_cudnn="auto", dropout=0.0, **kwargs):
        if encoder_layers < 2 or decoder_layers < 2:
            raise ValueError("GNMT needs at least 2 encoder layers (one bi-directional) and 2 decoder layers "
                             f"(attention feeds the ones above the first), got {encoder_layers} and {decoder_layers}")
        super().__init__(vocabulary_size, embedding_dim, dropout, **kwargs)
        self.units = units
        self.encoder_layers = encoder_layers
        self.decoder_layers = decoder_layers
        self.attention_units = attention_units
        self.use_cudnn = use_cudnn
        self.bottom_encoder = keras.layers.Bidirectional(
            LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn), name="encoder_0")
        self.encoder = [LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                             name=f"encoder_{n}") for n in range(1, encoder_layers)]
        self.decoder = [LSTM(units, return_sequences=True, use_cudnn=use_cudnn, name=f"decoder_{n}")
                        for n in range(decoder_layers)]
        self.attention = AdditiveAttention(attention_units, name="attention")
        self.projection = self.output_projection()

    def teacher_forcing(self, source_ids, decoder_inputs, training=False):
        encoded, source_mask, states = self._encode(source_ids, training)
        mask = self.padding_mask(decoder_inputs)
        y = self.decoder[0](self.drop(self.target_embedding(decoder_inputs), training), mask=mask,
                            initial_state=states[0], training=training)
        # Teacher forcing knows every query at once: one attention per target step.
        context, attention = self.attention(encoded, query=y, mask=source_mask)
        for n, layer in enumerate(self.decoder[1:], start=1):
            output = layer(self.drop(ops.concatenate([y, context], axis=-1), training), mask=mask,
                           initial_state=states[n], training=training)
            y = self._residual(n, y, output)
        return self.projection(self.drop(y, training)), attention

    @staticmethod
    def _residual(n, below, output):
        """Eq. 6: from the third layer (n = 2) up, a layer's input from below is added to its output."""
        return output + below if n >= 2 else output

    def _encode(self, source_ids, training=False):
        """(top encoder outputs, source mask, each decoder layer's initial `[h, c]` or None)."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        mask = self.padding_mask(source_ids)
        x, _, _, h, c = self.bottom_encoder(self.drop(self.source_embedding(source_ids), training), mask=mask,
                                            training=training)
        states = [[h, c]]  # the backward LSTM's: it ends on the first source word
        for n, layer in enumerate(self.encoder, start=1):
            output, h, c = layer(self.drop(x, training), mask=mask, training=training)
            x = self._residual(n, x, output)
            states.append([h, c])
        # Decoder layers above the encoder's depth start from zeros.
        return x, mask, (states + [None] * self.decoder_layers)[: self.decoder_layers]

    def encode(self, source_ids):
        """The decoding state: encoder outputs, source mask, attention keys, each decoder layer's `h_n`, `c_n`."""
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
        """One step; the attention `[rows, S]` is the bottom layer's output attending to the encoder outputs."""
        new_state = {name: state[name] for name in ("encoded", "source_mask", "keys")}
        y, context, attention = self.embed_previous(tokens), None, None
        for n, layer in enumerate(self.decoder):
            inputs = y if n == 0 else ops.concatenate([y, context], axis=-1)
            output = self.lstm_step(n, layer, inputs, state, new_state)
            y = self._residual(n, y, output) if n else output
            if n == 0:
                context, attention = self.attention(state["encoded"], query=y, mask=state["source_mask"],
                                                    keys=state["keys"])
        return self.log_probs(y), new_state, attention

    def get_config(self):
        return {**super().get_config(), "units": self.units, "encoder_layers": self.encoder_layers,
                "decoder_layers": self.decoder_layers, "attention_units": self.attention_units,
                "use_cudnn": self.use_cudnn}
