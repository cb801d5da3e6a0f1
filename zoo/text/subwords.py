"""Subword (wordpiece) tokenisation for translation (Sutskever 2014, Cho 2014, GNMT 2016), in the graph.

Unlike the word and character tokenizers, it runs tensorflow-text kernels, so
a graph holding it loads only where `tensorflow_text` is imported.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

from zoo.text.reserved import END_ID, PAD_ID, START_ID, SUBWORD_RESERVED, UNK
from zoo.text.tokenizer import Tokenizer


def _subword_text(text, lower_case):
    """What both vocabulary learning and `SubwordTokenizer` see: valid UTF-8, lower-cased if asked."""
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    return tf.strings.lower(text, encoding="utf-8") if lower_case else text


def build_subword_vocabulary(texts, size, lower_case=False, min_count=10, max_words=int(5e6), batch_size=1024):
    """Learns a wordpiece vocabulary of at most about `size` entries from `texts`.

    Returns `[PAD]`, `[UNK]`, `[START]`, `[END]`, then the characters, then
    pieces by falling count (suffix pieces start with `##`), as tensorflow-text's
    `bert_vocab_from_dataset` learns them. Text is split into words on white
    space and punctuation (BERT's rule, which `SubwordTokenizer` applies too),
    after the same preparation as the tokenizer's: invalid UTF-8 → U+FFFD and,
    with `lower_case`, Unicode lower-casing. Accents and Unicode normal forms
    are kept as they are (BERT's own lower-casing would strip accents).
    `size` is the learner's target: it binary-searches a count threshold that
    gives between 95 % and 100 % of `size` entries. Pieces rarer than
    `min_count` are never learned, so a small corpus gets fewer entries; where
    no threshold hits the range, the search's last try is returned, which can
    be a little larger (Multi30k en+de at 8000: 6406 entries with `min_count`
    10, 8301 with 5). `max_words` keeps the most frequent distinct words only
    (the learner's `max_input_tokens`); `batch_size` texts are split per
    call. The result is a pure function of the
    arguments and of the order of `texts`. For a vocabulary shared by source
    and target (GNMT), pass both sides' texts.
    """
    if size <= len(SUBWORD_RESERVED):
        raise ValueError(f"size must be more than the {len(SUBWORD_RESERVED)} reserved tokens, got {size}")
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError("no text to learn a subword vocabulary from")
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(texts, tf.string)).batch(batch_size)
    dataset = dataset.map(lambda batch: _subword_text(batch, lower_case))
    return bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset, vocab_size=size, reserved_tokens=list(SUBWORD_RESERVED),
        bert_tokenizer_params={"lower_case": False},
        learn_params={"lower_thresh": min_count, "max_input_tokens": max_words})


@keras.saving.register_keras_serializable(package="zoo")
class SubwordTokenizer(Tokenizer):
    """Text `[batch]` (tf.string) ↔ wordpiece ids `[batch, (pieces)]` (int32), in the graph.

    Wraps tensorflow-text's `FastWordpieceTokenizer`: text is split into words
    on white space and punctuation (each punctuation mark is a word), words
    into the longest pieces of `vocabulary` from the left; a word that cannot
    be split so (a character the vocabulary lacks, or over 100 bytes) becomes
    one `[UNK]`. Invalid UTF-8 bytes become U+FFFD first; with `lower_case`
    text is lower-cased (Unicode) too, as `build_subword_vocabulary` did.

    Args:
        vocabulary: list of pieces starting `[PAD]`, `[UNK]`, `[START]`, `[END]`
            (ids 0-3), e.g. from `build_subword_vocabulary`.
        lower_case: lower-case text before tokenizing.

    Example:

    >>> from zoo.text import SUBWORD_RESERVED, SubwordTokenizer
    >>> tokenizer = SubwordTokenizer([*SUBWORD_RESERVED, "a", "d", "o", "g", "do", "##g", "."])
    >>> ids = tokenizer(["a dog."])
    >>> ids.to_list()
    [[4, 8, 9, 10]]
    >>> tokenizer.detokenize(ids).numpy().tolist()
    [b'a dog .']
    """

    start_id = START_ID
    end_id = END_ID

    def __init__(self, vocabulary, lower_case=False, **kwargs):
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:4]) != SUBWORD_RESERVED:
            raise ValueError(f"vocabulary must start with {list(SUBWORD_RESERVED)}; got {vocabulary[:4]}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary has duplicate entries")
        self._vocabulary = tuple(vocabulary)
        self.lower_case = lower_case
        # A tf.Module whose model (a uint8 constant, no resource) the SavedModel stores with the graph.
        self.wordpiece = tf_text.FastWordpieceTokenizer(
            vocabulary, suffix_indicator="##", unknown_token=UNK, no_pretokenization=False,
            support_detokenization=True, token_out_type=tf.int32)

    @property
    def vocabulary(self):
        return list(self._vocabulary)

    @property
    def resources(self):
        return [self.wordpiece]

    def call(self, text):
        """Text `[batch]` → ragged int32 ids `[batch, (pieces)]`, without `[START]`/`[END]`."""
        text = tf.convert_to_tensor(text)
        if text.dtype != tf.string:
            raise TypeError(f"SubwordTokenizer takes tf.string text, got {text.dtype.name}")
        if text.shape.rank != 1:
            raise ValueError(f"SubwordTokenizer takes a batch of texts of shape [batch], got {text.shape}")
        return self.wordpiece.tokenize(_subword_text(text, self.lower_case))

    def tokenize_on_device(self, text):
        """One valid UTF-8 sentence `[1]` → its piece ids `[pieces]`, with the ops TFLite has kernels for.

        The UTF-8 repair and lower-casing of `call` have no TFLite kernel: the
        device sends valid UTF-8, lower-cased if `lower_case` says so. One
        sentence: its pieces are the ragged result's flat values (ragged ops
        have no TFLite kernels either).
        """
        return self.wordpiece.tokenize(text).flat_values

    def detokenize(self, ids):
        """Ids `[batch, time]` (dense or ragged) → text `[batch]`.

        Everything from a row's first `[END]` on is dropped, and so are `[PAD]`
        and `[START]`; pieces join into words, words with single spaces
        (so punctuation stands apart: "a dog ."); `[UNK]` shows as "[UNK]".
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(PAD_ID)
        ids = tf.cast(ids, tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"SubwordTokenizer.detokenize takes ids of shape [batch, time], got {ids.shape}")
        before_end = tf.math.cumsum(tf.cast(ids == self.end_id, tf.int32), axis=1) == 0
        keep = before_end & (ids != PAD_ID) & (ids != self.start_id)
        return self.wordpiece.detokenize(tf.ragged.boolean_mask(ids, keep))

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "lower_case": self.lower_case}
