"""SentencePiece subwords for translation (Sutskever 2014, Cho 2014, GNMT 2016), in the graph.

The model is learnt with the `sentencepiece` package (Kudo & Richardson 2018,
the field's standard) and run by tensorflow-text kernels, so a graph holding
it loads only where `tensorflow_text` is imported (TF Serving links them in).
"""

import base64
import io
import unicodedata

import keras
import sentencepiece
import tensorflow as tf
from sentencepiece import sentencepiece_model_pb2
import tensorflow_text as tf_text

from zoo.text.reserved import END, END_ID, PAD, PAD_ID, START, START_ID, SUBWORD_RESERVED, UNK, UNK_ID
from zoo.text.tokenizer import Tokenizer, prepare_text

MODEL_TYPES = ("unigram", "bpe")


def build_subword_model(texts, size, model_type="unigram", max_sentences=2_000_000):
    """Learns a SentencePiece model of `size` pieces from `texts`; returns it serialised (bytes).

    Ids 0-3 are `[PAD]`, `[UNK]`, `[START]`, `[END]` (`zoo.text.reserved`),
    then the 256 byte pieces `<0x00>`…`<0xFF>` (byte fallback: a character
    the model has no piece for is written as its UTF-8 bytes, so no text is
    ever `[UNK]`), then the learnt pieces, `▁` marking a word's start. Text is
    normalised with SentencePiece's `nmt_nfkc` rule (Unicode NFKC, runs of
    white space become one space), case is kept, every character of `texts`
    is covered (`character_coverage=1.0`). `model_type` is "unigram"
    (Kudo 2018) or "bpe" (Sennrich et al. 2016); only a unigram model
    segments the same on the device (`SubwordTokenizer.tokenize_on_device`).
    Learning is deterministic
    (one thread) for the same `texts` in the same order. For a vocabulary
    shared by source and target (GNMT), pass both sides' texts.
    """
    if model_type not in MODEL_TYPES:
        raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
    texts = [t.decode("utf-8", "replace") if isinstance(t, bytes) else t for t in texts]
    # What the tokenizer will read (`prepare_text`), in Python: control characters (Cc) but \t \n \r as spaces.
    texts = ["".join(" " if unicodedata.category(c) == "Cc" and c not in "\t\n\r" else c for c in t) for t in texts]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("no text to learn a subword model from")
    if size <= len(SUBWORD_RESERVED) + 256:
        raise ValueError(f"size must be more than the {len(SUBWORD_RESERVED)} reserved and 256 byte pieces, "
                         f"got {size}")
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=size, model_type=model_type,
        byte_fallback=True, character_coverage=1.0, normalization_rule_name="nmt_nfkc",
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=START_ID, eos_id=END_ID,
        pad_piece=PAD, unk_piece=UNK, bos_piece=START, eos_piece=END,
        # A small corpus may not have `size` pieces' worth of text: take what it has, not an error.
        hard_vocab_limit=False, input_sentence_size=max_sentences, shuffle_input_sentence=False,
        num_threads=1, minloglevel=2)
    return model.getvalue()


@keras.saving.register_keras_serializable(package="zoo")
class SubwordTokenizer(Tokenizer):
    """Text `[batch]` (tf.string) ↔ SentencePiece ids `[batch, (pieces)]` (int32), in the graph.

    Serving graphs use tensorflow-text's `SentencepieceTokenizer`: detokenised
    output is real text ("Ein Hund rennt am Strand."), and a character the
    model never saw comes back exactly, through its byte pieces. The text is
    `prepare_text`'s first (invalid UTF-8 bytes become U+FFFD, control
    characters spaces, so words on either side of a NUL stay apart). The
    `*_on_device` methods use
    `FastSentencepieceTokenizer`, which converts to TFLite (custom ops of
    `tensorflow_text.tflite_registrar`) but has no byte fallback: there an
    unseen character is `[UNK]` and is written " ⁇ ". Both apply the model's
    `nmt_nfkc` normalisation: NFKC, control characters removed, tabs,
    newlines, U+FFFD and runs of white space read as one space.

    tensorflow-text's SentencePiece kernel owns the model it loads (its
    TODO b/318839908), and `tf.random.set_seed` (so `keras.utils.
    set_random_seed`) clears TensorFlow's kernel cache, which frees it: a
    tokenizer made before a seed is set fails with "Resource ... does not
    exist". Set seeds first (the recipes do). Loaded SavedModels are not
    affected.

    Args:
        model_proto: the serialised SentencePiece model (bytes, e.g. from
            `build_subword_model`), or that as base64 text (as `get_config`
            writes it). Its ids 0-3 must be `[PAD]`, `[UNK]`, `[START]`, `[END]`.

    Example:

    >>> from zoo.text import SubwordTokenizer, build_subword_model
    >>> tokenizer = SubwordTokenizer(build_subword_model(["a dog runs.", "ein Hund rennt."] * 20, 300))
    >>> ids = tokenizer(["a dog runs."])
    >>> tokenizer.detokenize(ids).numpy().tolist()
    [b'a dog runs.']
    >>> tokenizer.detokenize(tokenizer(["ein Hund ☃"])).numpy().tolist() == ["ein Hund ☃".encode()]
    True
    """

    model_file = "sentencepiece.model"
    start_id = START_ID
    end_id = END_ID

    def __init__(self, model_proto, **kwargs):
        super().__init__(**kwargs)
        self.model_proto = base64.b64decode(model_proto) if isinstance(model_proto, str) else bytes(model_proto)
        try:
            processor = sentencepiece.SentencePieceProcessor(model_proto=self.model_proto)
        except RuntimeError as e:
            raise ValueError(f"not a SentencePiece model: {e}") from e
        self._vocabulary = tuple(processor.id_to_piece(i) for i in range(processor.get_piece_size()))
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(self.model_proto)
        self.unigram = proto.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.UNIGRAM
        if self._vocabulary[:4] != SUBWORD_RESERVED:
            raise ValueError(f"the model's ids 0-3 must be {list(SUBWORD_RESERVED)}; got {list(self._vocabulary[:4])}")
        # tf.Modules: the first holds a resource an export must track, the second a constant.
        self.sentencepiece = tf_text.SentencepieceTokenizer(self.model_proto, out_type=tf.int32)
        self.fast_sentencepiece = tf_text.FastSentencepieceTokenizer(self.model_proto)

    @property
    def vocabulary(self):
        return list(self._vocabulary)

    @property
    def resources(self):
        return [self.sentencepiece]

    def call(self, text):
        """Text `[batch]` → ragged int32 ids `[batch, (pieces)]`, without `[START]`/`[END]`."""
        text = tf.convert_to_tensor(text)
        if text.dtype != tf.string:
            raise TypeError(f"SubwordTokenizer takes tf.string text, got {text.dtype.name}")
        if text.shape.rank != 1:
            raise ValueError(f"SubwordTokenizer takes a batch of texts of shape [batch], got {text.shape}")
        return self.sentencepiece.tokenize(prepare_text(text))

    def detokenize(self, ids):
        """Ids `[batch, time]` (dense or ragged) → text `[batch]`.

        Everything from a row's first `[END]` on is dropped, and so are `[PAD]`
        and `[START]`.
        """
        return self.sentencepiece.detokenize(self._before_end(ids))

    def pieces(self, ids):
        """Ids (any shape, dense or ragged) → their pieces as strings (`▁` starts a word)."""
        return self.sentencepiece.id_to_string(ids)

    def tokenize_on_device(self, text):
        """One valid UTF-8 sentence `[1]` → its piece ids `[pieces]`, with ops TFLite has kernels for.

        `prepare_text` of `call` has no TFLite kernel (regular expressions):
        the device sends valid UTF-8, with control characters as spaces
        (SentencePiece's normalisation would drop them, joining the words on
        either side). One sentence: its ids are the ragged result's flat values
        (ragged ops have no TFLite kernels either). Unigram models only:
        `FastSentencepieceTokenizer` segments every model as a unigram model,
        so a BPE model's pieces would differ from the ones it was trained on
        ("group" → "g", "ro", "up"), and this raises `ValueError`.
        """
        if not self.unigram:
            raise ValueError("tokenize_on_device needs a unigram SentencePiece model: tensorflow-text's TFLite "
                             "tokenizer segments as unigram, so a BPE model would be cut differently on the device")
        return self.fast_sentencepiece.tokenize(text).flat_values

    def detokenize_on_device(self, ids):
        """One sentence's ids `[time]` → its text `[1]`, up to the first `[END]`, with TFLite's kernels."""
        ids = tf.cast(ids, tf.int32)
        kept = tf.boolean_mask(ids, self._kept(ids[None])[0])
        return tf.reshape(self.fast_sentencepiece.detokenize(kept[None]), [1])

    def _kept(self, ids):
        before_end = tf.math.cumsum(tf.cast(ids == self.end_id, tf.int32), axis=1) == 0
        return before_end & (ids != PAD_ID) & (ids != self.start_id)

    def _before_end(self, ids):
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(PAD_ID)
        ids = tf.cast(ids, tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"SubwordTokenizer.detokenize takes ids of shape [batch, time], got {ids.shape}")
        return tf.ragged.boolean_mask(ids, self._kept(ids))

    def assets(self):
        """`vocab.txt` (a piece a line, id = line number) and the model itself, `sentencepiece.model`."""
        return {**super().assets(), self.model_file: self.model_proto}

    @classmethod
    def load(cls, directory, **kwargs):
        with tf.io.gfile.GFile(f"{directory.rstrip('/')}/{cls.model_file}", "rb") as f:
            return cls(f.read(), **kwargs)

    def get_config(self):
        return {**super().get_config(), "model_proto": base64.b64encode(self.model_proto).decode("ascii")}
