"""Document tokenisation that runs inside the graph, in tf.data and in exports.

One `DocumentTokenizer` turns raw `tf.string` documents into word ids
`[batch, sentences, words]`; training pipelines and the SavedModel's serving
signature call the same layer, so what the server sees is what training saw.

Steps (TensorFlow ops only, no Python at run time):
1. bytes that are not valid UTF-8 become U+FFFD (later `[UNK]`);
2. Unicode lower-casing;
3. `<br />` tags and newlines end sentences, as do runs of `.`, `!`, `?`
   followed by white space;
4. words are runs of letters, digits and marks; every other non-space
   character is a word of its own (punctuation is kept as a token);
5. words are looked up in the vocabulary (`[PAD]` = 0, `[UNK]` = 1);
   empty sentences are dropped; the document is cut to `max_sentences`
   sentences of at most `max_words` words and padded with 0 to the longest
   sentence / document of the batch (at least 1 × 1).

Only core `tf.strings` ops are used, not tensorflow-text's kernels: a graph
with tensorflow-text ops loads only where `tensorflow_text` is imported, and
stock TF Serving embeds an older TF Text (2.12) that lacks some of 2.21's ops.
With core ops the export loads in a plain `tensorflow` and in any TF Serving.
"""

import collections

import keras
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

PAD = "[PAD]"
UNK = "[UNK]"

_SENTENCE_END = r"([.!?]+)\s+"
_LINE_BREAK = r"(?i)<br\s*/?>|\r\n|\r"
_SPACE = r"[\s\p{Z}]+"
_SYMBOL = r"([^\p{L}\p{N}\p{M}\s\p{Z}])"


def split_documents(documents):
    """Splits documents `[batch]` into words: a ragged `[batch, sentences, words]` of strings."""
    text = tf.strings.unicode_transcode(documents, "UTF-8", "UTF-8", errors="replace")
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _LINE_BREAK, "\n")
    text = tf.strings.regex_replace(text, _SENTENCE_END, "\\1\n")
    sentences = tf.strings.split(text, "\n")
    # Symbols become words of their own; any run of (Unicode) space separates words.
    sentences = tf.ragged.map_flat_values(tf.strings.regex_replace, sentences, _SYMBOL, " \\1 ")
    sentences = tf.ragged.map_flat_values(tf.strings.regex_replace, sentences, _SPACE, " ")
    words = tf.strings.split(sentences)
    # Drop sentences left without a word (blank lines, trailing white space).
    return tf.ragged.boolean_mask(words, words.row_lengths(axis=2) > 0)


def build_vocabulary(documents, max_size, batch_size=256):
    """Returns the vocabulary of a corpus: `[PAD]`, `[UNK]`, then words by falling count.

    Args:
        documents: an iterable of `str`/`bytes` documents (the training split).
        max_size: the vocabulary size cap, `[PAD]` and `[UNK]` included.
        batch_size: documents tokenised per call.

    Ties in count are broken alphabetically, so the result is deterministic.
    """
    if max_size < 3:
        raise ValueError(f"max_size must be at least 3 ([PAD], [UNK] and a word), got {max_size}")
    counts = collections.Counter()
    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(list(documents), tf.string)).batch(batch_size)
    for batch in dataset.map(lambda d: split_documents(d).flat_values):
        counts.update(batch.numpy().tolist())
    words = sorted(counts, key=lambda w: (-counts[w], w))[: max_size - 2]
    return [PAD, UNK] + [w.decode("utf-8") for w in words]


def write_vocabulary(vocabulary, path):
    with tf.io.gfile.GFile(path, "w") as f:
        f.write("".join(word + "\n" for word in vocabulary))


def read_vocabulary(path):
    with tf.io.gfile.GFile(path) as f:
        return [line.rstrip("\n") for line in f]


@keras.saving.register_keras_serializable(package="zoo")
class DocumentTokenizer(keras.layers.Layer):
    """Raw documents `[batch]` (tf.string) → word ids `[batch, sentences, words]` (int32).

    Args:
        vocabulary: list of words; entry 0 must be `[PAD]` and entry 1 `[UNK]`.
        max_sentences: documents are cut to their first `max_sentences` sentences.
        max_words: sentences are cut to their first `max_words` words.
        pad_to_max: pad every batch to exactly `[max_sentences, max_words]`
            (for static-shape consumers such as TFLite) instead of to the
            longest document of the batch.

    A document with no word (empty or white space only) becomes all padding;
    callers decide whether that is an error (the serving signature says it is).
    """

    def __init__(self, vocabulary, max_sentences=30, max_words=50, pad_to_max=False, **kwargs):
        kwargs["trainable"] = False  # a lookup, nothing to train
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if vocabulary[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {PAD!r}, {UNK!r}; got {vocabulary[:2]}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary has duplicate entries")
        if max_sentences <= 0 or max_words <= 0:
            raise ValueError(f"max_sentences and max_words must be positive, got {max_sentences}, {max_words}")
        self.vocabulary = vocabulary
        self.max_sentences = max_sentences
        self.max_words = max_words
        self.pad_to_max = pad_to_max
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(vocabulary[2:], tf.string), tf.range(2, len(vocabulary), dtype=tf.int32)),
            default_value=1)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def split(self, documents):
        """Words after truncation: a ragged `[batch, sentences, words]` of strings."""
        documents = tf.convert_to_tensor(documents)
        if documents.dtype != tf.string:
            raise TypeError(f"DocumentTokenizer takes tf.string documents, got {documents.dtype.name}")
        if documents.shape.rank != 1:
            raise ValueError(f"DocumentTokenizer takes a batch of documents of shape [batch], got {documents.shape}")
        return split_documents(documents)[:, : self.max_sentences, : self.max_words]

    def call(self, documents):
        return self.to_ids(self.split(documents))

    def to_ids(self, words):
        """Looks up the words of `split` and pads them: int32 `[batch, sentences, words]`."""
        return self.pad(tf.ragged.map_flat_values(self.table.lookup, words), 0)

    def pad(self, ragged, value):
        """Pads a ragged `[batch, sentences, words]` the way `call` pads ids."""
        if self.pad_to_max:
            return ragged.to_tensor(value, shape=[None, self.max_sentences, self.max_words])
        dense = ragged.to_tensor(value)
        # At least one (padding) sentence of one word, so that a batch of empty
        # documents or of no document still has a time axis for the RNNs.
        shape = tf.shape(dense)
        return tf.pad(dense, [[0, 0], [0, tf.maximum(1 - shape[1], 0)], [0, tf.maximum(1 - shape[2], 0)]],
                      constant_values=value)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "max_sentences": self.max_sentences,
            "max_words": self.max_words,
            "pad_to_max": self.pad_to_max,
        }


def build_character_vocabulary(text):
    """`[PAD]`, `[UNK]`, then the characters of `text` in code point order."""
    return [PAD, UNK] + sorted(set(text))


@keras.saving.register_keras_serializable(package="zoo")
class CharacterTokenizer(keras.layers.Layer):
    """Text `[batch]` (tf.string) ↔ character ids `[batch, time]` (int32), in the graph.

    Ids are positions in `vocabulary` (`[PAD]` = 0 pads short rows, `[UNK]` = 1
    stands for characters the vocabulary lacks). Invalid UTF-8 bytes become
    U+FFFD first, so any byte string tokenises.
    """

    def __init__(self, vocabulary, **kwargs):
        kwargs["trainable"] = False  # a lookup, nothing to train
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if vocabulary[:2] != [PAD, UNK] or len(vocabulary) < 3:
            raise ValueError(f"vocabulary must be {PAD!r}, {UNK!r}, then characters; got {vocabulary[:3]}")
        characters = vocabulary[2:]
        if any(len(c) != 1 for c in characters) or len(set(characters)) != len(characters):
            raise ValueError("vocabulary entries after [PAD], [UNK] must be distinct single characters")
        self.vocabulary = vocabulary
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(characters), tf.range(2, len(vocabulary), dtype=tf.int32)),
            default_value=1)
        # What ids turn back into: padding into nothing, [UNK] into U+FFFD.
        self.characters = tf.constant(["", "\ufffd"] + characters)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def call(self, text):
        text = tf.convert_to_tensor(text)
        if text.dtype != tf.string:
            raise TypeError(f"CharacterTokenizer takes tf.string text, got {text.dtype.name}")
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
        ids = tf.ragged.map_flat_values(self.table.lookup, tf.strings.unicode_split(text, "UTF-8")).to_tensor(0)
        # At least one (padding) column, so that an empty batch still has a time axis.
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def detokenize(self, ids):
        """Ids `[batch, time]` → text `[batch]`."""
        return tf.strings.reduce_join(tf.gather(self.characters, ids), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary}


# Subword (wordpiece) tokenisation for translation (Sutskever 2014, Cho 2014,
# GNMT 2016). Unlike the tokenisers above, it runs tensorflow-text kernels, so
# a graph holding it loads only where `tensorflow_text` is imported.

START = "[START]"
END = "[END]"
SUBWORD_RESERVED = (PAD, UNK, START, END)  # ids 0, 1, 2, 3


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
class SubwordTokenizer(keras.layers.Layer):
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
    """

    def __init__(self, vocabulary, lower_case=False, **kwargs):
        kwargs["trainable"] = False  # a lookup, nothing to train
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
    def vocabulary_size(self):
        return len(self._vocabulary)

    @property
    def start_id(self):
        return SUBWORD_RESERVED.index(START)

    @property
    def end_id(self):
        return SUBWORD_RESERVED.index(END)

    def __call__(self, text, **kwargs):
        # Keras layers take only tensors as inputs; a list of str/bytes is text too.
        if isinstance(text, (list, tuple)):
            try:
                text = tf.constant(text)
            except (TypeError, ValueError) as e:
                raise TypeError(f"SubwordTokenizer takes a list of str or bytes, got {text!r:.60}: {e}") from e
        return super().__call__(text, **kwargs)

    def call(self, text):
        """Text `[batch]` → ragged int32 ids `[batch, (pieces)]`, without `[START]`/`[END]`."""
        text = tf.convert_to_tensor(text)
        if text.dtype != tf.string:
            raise TypeError(f"SubwordTokenizer takes tf.string text, got {text.dtype.name}")
        if text.shape.rank != 1:
            raise ValueError(f"SubwordTokenizer takes a batch of texts of shape [batch], got {text.shape}")
        return self.wordpiece.tokenize(_subword_text(text, self.lower_case))

    def detokenize(self, ids):
        """Ids `[batch, time]` (dense or ragged) → text `[batch]`.

        Everything from a row's first `[END]` on is dropped, and so are `[PAD]`
        and `[START]`; pieces join into words, words with single spaces
        (so punctuation stands apart: "a dog ."); `[UNK]` shows as "[UNK]".
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(SUBWORD_RESERVED.index(PAD))
        ids = tf.cast(ids, tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"SubwordTokenizer.detokenize takes ids of shape [batch, time], got {ids.shape}")
        before_end = tf.math.cumsum(tf.cast(ids == self.end_id, tf.int32), axis=1) == 0
        keep = before_end & (ids != SUBWORD_RESERVED.index(PAD)) & (ids != self.start_id)
        return self.wordpiece.detokenize(tf.ragged.boolean_mask(ids, keep))

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary, "lower_case": self.lower_case}
