"""Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural Networks" (arXiv 1409.3215)."""

import keras
import tensorflow as tf
from keras import ops

from zoo.layers.lstm import LSTM
from zoo.models.encoder_decoder import EncoderDecoder


@keras.saving.register_keras_serializable(package="zoo")
class SutskeverSeq2Seq(EncoderDecoder):
    """A deep LSTM reads the (reversed) source, a second deep LSTM writes the target.

    §2: p(y_1..y_T' | x_1..x_T) = Π_t p(y_t | v, y_1..y_{t-1}), where v is the
    encoder's last state; here v is every encoder layer's final (h, c), which
    starts the decoder layer of the same depth. §3.3: the source is read in
    reverse ("c b a" → "α β γ"), which puts the first source words next to the
    first target words; padding stays at the end (each row is reversed within
    its length). Generation ends with `<eos>` (the vocabulary's END id).

    Defaults are the paper's: 4 layers of 1000 LSTM cells, 1000-dimensional
    embeddings; the encoder and decoder have their own embeddings and LSTMs.
    Call arguments, `encode` and `decode_step`: see `EncoderDecoder`.

    Args:
        vocabulary_size: shared by source and target, reserved ids included.
        embedding_dim, units, num_layers: sizes.
        reverse_source: read the source backwards (§3.3).
        use_cudnn: passed to the LSTMs.
        dropout: in training, on every LSTM layer's input and the top decoder
            output (`EncoderDecoder`); the paper has none (0).
        **kwargs: `share_embeddings` (`EncoderDecoder`; needs `units ==
            embedding_dim`) and Keras's.

    Example:

    >>> import numpy as np
    >>> from zoo.models import SutskeverSeq2Seq
    >>> model = SutskeverSeq2Seq(vocabulary_size=20, embedding_dim=8, units=8, num_layers=2)
    >>> source = np.array([[5, 6, 7], [8, 9, 0]])
    >>> logits = model((source, np.array([[2, 10], [2, 11]])))
    >>> tuple(logits.shape)
    (2, 2, 20)
    >>> log_probs, state, attention = model.decode_step(np.array([2, 2]), model.encode(source))
    >>> tuple(log_probs.shape), sorted(state), attention
    ((2, 20), ['c_0', 'c_1', 'h_0', 'h_1'], None)
    """

    def __init__(self, vocabulary_size, embedding_dim=1000, units=1000, num_layers=4, reverse_source=True,
                 use_cudnn="auto", dropout=0.0, **kwargs):
        super().__init__(vocabulary_size, embedding_dim, dropout, **kwargs)
        self.units = units
        self.num_layers = num_layers
        self.reverse_source = reverse_source
        self.use_cudnn = use_cudnn
        self.encoder = [LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                             name=f"encoder_{n}") for n in range(num_layers)]
        self.decoder = [LSTM(units, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                             name=f"decoder_{n}") for n in range(num_layers)]
        self.projection = self.output_projection()

    def teacher_forcing(self, source_ids, decoder_inputs, training=False):
        states = self._encoder_states(source_ids, training)
        x = self.target_embedding(decoder_inputs)
        mask = self.padding_mask(decoder_inputs)
        for layer, state in zip(self.decoder, states):
            x, *_ = layer(self.drop(x, training), mask=mask, initial_state=state, training=training)
        return self.projection(self.drop(x, training)), None

    def _encoder_states(self, source_ids, training=False):
        """Each encoder layer's final `[h, c]` after reading the source (reversed within each row's length)."""
        source_ids = ops.convert_to_tensor(source_ids, "int32")
        mask = self.padding_mask(source_ids)
        if self.reverse_source:
            lengths = ops.sum(ops.cast(mask, "int32"), axis=1)
            source_ids = tf.reverse_sequence(source_ids, lengths, seq_axis=1, batch_axis=0)
        x, states = self.source_embedding(source_ids), []
        for layer in self.encoder:
            x, h, c = layer(self.drop(x, training), mask=mask, training=training)
            states.append([h, c])
        return states

    def encode(self, source_ids):
        """The decoding state: `h_n`, `c_n` of each layer n, each `[batch, units]`."""
        return self.lstm_states(self._encoder_states(source_ids))

    def decode_step(self, tokens, state):
        x, new_state = self.embed_previous(tokens), {}
        for n, layer in enumerate(self.decoder):
            x = self.lstm_step(n, layer, x, state, new_state)
        return self.log_probs(x), new_state, None

    def get_config(self):
        return {**super().get_config(), "units": self.units, "num_layers": self.num_layers,
                "reverse_source": self.reverse_source, "use_cudnn": self.use_cudnn}
