"""Document tokenisation that runs inside the graph, in tf.data and in exports.

One `DocumentTokenizer` turns raw `tf.string` documents into word ids
`[batch, sentences, words]`; training pipelines and the SavedModel's serving
signature call the same layer, so what the server sees is what training saw.

Steps (TensorFlow ops only, no Python at run time):
1. `prepare_text`: bytes that are not valid UTF-8 become U+FFFD (later
   `[UNK]`), control characters (a NUL, an escape) become spaces;
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
import json

import keras
import tensorflow as tf

from zoo.text.reserved import PAD, PAD_ID, UNK, UNK_ID, WORD_RESERVED
from zoo.text.tokenizer import Tokenizer, prepare_text

_SENTENCE_END = r"([.!?]+)\s+"
_LINE_BREAK = r"(?i)<br\s*/?>|\r\n|\r"
_SPACE = r"[\s\p{Z}]+"
_SYMBOL = r"([^\p{L}\p{N}\p{M}\s\p{Z}])"


def split_documents(documents):
    """Splits documents `[batch]` into words: a ragged `[batch, sentences, words]` of strings."""
    text = tf.strings.lower(prepare_text(documents), encoding="utf-8")
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
    return [*WORD_RESERVED] + [w.decode("utf-8") for w in words]


@keras.saving.register_keras_serializable(package="zoo")
class DocumentTokenizer(Tokenizer):
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
    Files (`assets`): `vocab.txt` (a word a line, id = line number) and
    `tokenizer.json` (the length caps and reserved ids).

    Example:

    >>> from zoo.text import DocumentTokenizer
    >>> tokenizer = DocumentTokenizer(["[PAD]", "[UNK]", "the", "plot", "."], max_sentences=4, max_words=6)
    >>> tokenizer(["The plot. The twist!"]).numpy().tolist()
    [[[2, 3, 4], [2, 1, 1]]]
    """

    def __init__(self, vocabulary, max_sentences=30, max_words=50, pad_to_max=False, **kwargs):
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:2]) != WORD_RESERVED:
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
            default_value=UNK_ID)

    @property
    def resources(self):
        return [self.table]

    def assets(self):
        caps = {"max_sentences": self.max_sentences, "max_words": self.max_words, "padding_id": PAD_ID,
                "unknown_id": UNK_ID}
        return {**super().assets(), "tokenizer.json": json.dumps(caps, indent=2)}

    @classmethod
    def load(cls, directory, **kwargs):
        """The tokenizer `save` wrote into `directory`, with its caps from `tokenizer.json` unless `kwargs` set them."""
        caps = f"{directory.rstrip('/')}/tokenizer.json"
        if tf.io.gfile.exists(caps):
            with tf.io.gfile.GFile(caps) as f:
                saved = json.load(f)
            kwargs = {"max_sentences": saved["max_sentences"], "max_words": saved["max_words"], **kwargs}
        return super().load(directory, **kwargs)

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
        return self.pad(tf.ragged.map_flat_values(self.table.lookup, words), PAD_ID)

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
