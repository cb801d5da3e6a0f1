"""What every translation model of the zoo shares (Sutskever 2014, Cho 2014, GNMT 2016)."""

import keras
import numpy as np
from keras import ops

from zoo.layers.tied_output import TiedOutput
from zoo.text.reserved import PAD_ID, START_ID


class EncoderDecoder(keras.Model):
    """Base class of the encoder-decoder models: embeddings, padding, the training call, the decoding contract.

    It owns the source and target embeddings (`source_embedding`,
    `target_embedding`; id `PAD_ID` is padding and is masked) and `call`. A
    subclass keeps only what its paper adds: its layers, ending with
    `projection = self.output_projection()`, the output layer over the
    vocabulary (created last: a
    `.keras` file restores layers in the order they were created, so moving
    it would break the files of earlier versions), and three methods:

    - `teacher_forcing(source_ids, decoder_inputs, training)` → `(logits
      [batch, T, vocabulary], attention [batch, T, S] or None)`: the whole
      target at once, for training;
    - `encode(source_ids)` → the decoding state: a dict of tensors whose
      leading dimension is the batch (the decoders of `zoo.decoding` repeat
      and reorder its rows for beams);
    - `decode_step(tokens, state)` → `(log_probs, new_state, attention)`:
      the previous target token of each row `[rows]` (`START_ID` first) and
      the state → normalised log-probabilities of the next token `[rows,
      vocabulary]`, the state after this step (same structure and shapes),
      and the attention over the source `[rows, S]` or None. Running
      `decode_step` over a target must give the log-softmax of
      `teacher_forcing`'s logits, step by step.

    Args:
        vocabulary_size: shared by source and target, reserved ids included.
        embedding_dim: size of the source and target embeddings.
        dropout: in training, the rate of the dropout on the input of every
            recurrent layer (the embeddings included) and on the top decoder
            output — never on the recurrent state (Zaremba et al. 2014; as
            tensorflow/nmt's GNMT applies it). 0 (the default, as in the
            papers of Sutskever and Cho) adds nothing to the model.
        share_embeddings: one matrix for the source embedding, the target
            embedding and the output layer (`TiedOutput`, Press & Wolf 2017;
            the vocabulary is shared already). Needs the projection's input
            to be `embedding_dim` wide. Fewer weights to learn from a small
            corpus; False (the default, as in the papers) keeps three.

    Call arguments:
        inputs: `(source_ids [batch, S], decoder_inputs [batch, T])`, int,
            `PAD_ID`-padded; decoder inputs start with `START_ID`.
        return_attention: also return the attention `[batch, T, S]` (models
            with attention only).

    Returns:
        logits `[batch, T, vocabulary_size]` (and the attention).

    Example (the contract, on a subclass):

    >>> import numpy as np
    >>> from keras import ops
    >>> from zoo.models import SutskeverSeq2Seq
    >>> model = SutskeverSeq2Seq(vocabulary_size=20, embedding_dim=8, units=8, num_layers=2)
    >>> source, decoder_inputs = np.array([[5, 6, 7]]), np.array([[2, 9, 10]])
    >>> teacher_forced = ops.log_softmax(model((source, decoder_inputs)), axis=-1)
    >>> state, steps = model.encode(source), []
    >>> for t in range(3):
    ...     log_probs, state, _ = model.decode_step(decoder_inputs[:, t], state)
    ...     steps.append(log_probs)
    >>> bool(np.allclose(np.stack(steps, axis=1), teacher_forced, atol=1e-5))
    True
    """

    has_attention = False  # whether `teacher_forcing` and `decode_step` return attention

    def __init__(self, vocabulary_size, embedding_dim, dropout=0.0, share_embeddings=False, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.share_embeddings = share_embeddings
        # Only a model that drops has a seed generator (a variable): models without dropout keep the variables,
        # and so the checkpoints and .keras files, they had before the option existed.
        self.dropout_seed = keras.random.SeedGenerator(name="dropout_seed") if dropout else None
        self.source_embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, mask_zero=True,
                                                       name="source_embedding")
        self.target_embedding = self.source_embedding if share_embeddings else keras.layers.Embedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="target_embedding")

    def output_projection(self):
        """The output layer over the vocabulary: its own matrix, or the embeddings' with `share_embeddings`."""
        if self.share_embeddings:
            return TiedOutput(self.source_embedding, name="projection")
        return keras.layers.Dense(self.vocabulary_size, name="projection")

    @staticmethod
    def example_input():
        """The smallest valid input: one source of one token, one decoder input (`START_ID`)."""
        ids = np.full((1, 1), START_ID, np.int32)
        return ids, ids

    def call(self, inputs, training=False, return_attention=False):
        source_ids, decoder_inputs = (ops.convert_to_tensor(ids, "int32") for ids in inputs)
        logits, attention = self.teacher_forcing(source_ids, decoder_inputs, training)
        if not return_attention:
            return logits
        if attention is None:
            raise ValueError(f"{type(self).__name__} has no attention to return")
        return logits, attention

    def teacher_forcing(self, source_ids, decoder_inputs, training=False):
        raise NotImplementedError

    def encode(self, source_ids):
        raise NotImplementedError

    def decode_step(self, tokens, state):
        raise NotImplementedError

    def drop(self, x, training):
        """`x` with dropout at rate `dropout` in training; `x` itself otherwise."""
        if not (training and self.dropout):
            return x
        return keras.random.dropout(x, self.dropout, seed=self.dropout_seed)

    @staticmethod
    def padding_mask(ids):
        """True for real tokens, False for padding."""
        return ops.not_equal(ids, PAD_ID)

    def embed_previous(self, tokens):
        """Target embeddings of one step's tokens `[rows]` → `[rows, embedding_dim]`.

        A plain lookup: the layer would attach a padding mask that the
        recurrent cells of a step cannot take.
        """
        return ops.take(self.target_embedding.embeddings, tokens, axis=0)

    def log_probs(self, features):
        """Normalised log-probabilities of the next token from the projection's input."""
        return ops.log_softmax(self.projection(features), axis=-1)

    @staticmethod
    def lstm_states(pairs):
        """`[[h, c], ...]` per layer → the decoding state's `{"h_n": h, "c_n": c}`."""
        return {f"{part}_{n}": pair[i] for n, pair in enumerate(pairs) for i, part in enumerate("hc")}

    @staticmethod
    def lstm_step(n, layer, inputs, state, new_state):
        """One step of LSTM layer `n` from `state`'s `h_n`, `c_n`; writes them to `new_state`, returns the output."""
        output, (new_state[f"h_{n}"], new_state[f"c_{n}"]) = layer.cell(inputs, [state[f"h_{n}"], state[f"c_{n}"]])
        return output

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size, "embedding_dim": self.embedding_dim,
                "dropout": self.dropout, "share_embeddings": self.share_embeddings}
