"""Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural Networks" (arXiv 1409.3215)."""

import keras
import tensorflow as tf
from keras import ops

PAD_ID = 0


@keras.saving.register_keras_serializable(package="zoo")
class SutskeverSeq2Seq(keras.Model):
    """A deep LSTM reads the (reversed) source, a second deep LSTM writes the target.

    §2: p(y_1..y_T' | x_1..x_T) = Π_t p(y_t | v, y_1..y_{t-1}), where v is the
    encoder's last state; here v is every encoder layer's final (h, c), which
    starts the decoder layer of the same depth. §3.3: the source is read in
    reverse ("c b a" → "α β γ"), which puts the first source words next to the
    first target words; padding stays at the end (each row is reversed within
    its length). Generation ends with `<eos>` (the vocabulary's END id).

    Defaults are the paper's: 4 layers of 1000 LSTM cells, 1000-dimensional
    embeddings; the encoder and decoder have their own embeddings and LSTMs.

    Call arguments:
        inputs: `(source_ids [batch, S], decoder_inputs [batch, T])`, int,
            0-padded; decoder inputs start with the START id (teacher forcing).

    Returns:
        logits `[batch, T, vocabulary_size]`.

    `encode` and `decode_step` are the one-step interface of `zoo.decoding`.
    """

    def __init__(self, vocabulary_size, embedding_dim=1000, units=1000, num_layers=4, reverse_source=True,
                 use_cudnn="auto", **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.reverse_source = reverse_source
        self.use_cudnn = use_cudnn
        self.source_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="source_embedding")
        self.target_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="target_embedding")
        self.encoder = [keras.layers.LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                                          name=f"encoder_{n}") for n in range(num_layers)]
        self.decoder = [keras.layers.LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                                          name=f"decoder_{n}") for n in range(num_layers)]
        self.projection = keras.layers.Dense(vocabulary_size, name="projection")

    def call(self, inputs, training=False):
        source_ids, decoder_inputs = inputs
        states = self._encoder_states(source_ids, training)
        x = self.target_embedding(decoder_inputs)
        mask = ops.not_equal(decoder_inputs, PAD_ID)
        for layer, state in zip(self.decoder, states):
            x, *_ = layer(x, mask=mask, initial_state=state, training=training)
        return self.projection(x)

    def _encoder_states(self, source_ids, training=False):
        """Each encoder layer's final `[h, c]` after reading the source (reversed within each row's length)."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        mask = ops.not_equal(source_ids, PAD_ID)
        if self.reverse_source:
            lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
            source_ids = tf.reverse_sequence(source_ids, lengths, seq_axis=1, batch_axis=0)
        x, states = self.source_embedding(source_ids), []
        for layer in self.encoder:
            x, h, c = layer(x, mask=mask, training=training)
            states.append([h, c])
        return states

    def encode(self, source_ids):
        """The decoder's initial state for `zoo.decoding`: `{"h_n", "c_n"}` per layer n, each `[batch, units]`."""
        states = self._encoder_states(source_ids)
        return {f"{part}_{n}": pair[i] for n, pair in enumerate(states) for i, part in enumerate("hc")}

    def decode_step(self, tokens, state):
        """One decoder step: previous tokens `[rows]` → (log-probabilities `[rows, vocabulary]`, state, None)."""
        x = self._embed_tokens(tokens)
        new_state = {}
        for n, layer in enumerate(self.decoder):
            x, (h, c) = layer.cell(x, [state[f"h_{n}"], state[f"c_{n}"]])
            new_state[f"h_{n}"], new_state[f"c_{n}"] = h, c
        return ops.log_softmax(self.projection(x), axis=-1), new_state, None

    def _embed_tokens(self, tokens):
        # A plain lookup: the layer would attach a padding mask that the cells below cannot take.
        return ops.take(self.target_embedding.embeddings, tokens, axis=0)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "num_layers": self.num_layers, "reverse_source": self.reverse_source,
                "use_cudnn": self.use_cudnn}
