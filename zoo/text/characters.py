"""Character tokenisation for character-level language models (Graves 2013, §3), in the graph."""

import json

import keras
import numpy as np
import tensorflow as tf

from zoo.text.reserved import PAD, PAD_ID, UNK, UNK_ID, WORD_RESERVED
from zoo.text.tokenizer import Tokenizer, prepare_text


def build_character_vocabulary(text):
    """`[PAD]`, `[UNK]`, then the characters of `text` in code point order."""
    return [*WORD_RESERVED] + sorted(set(text))


@keras.saving.register_keras_serializable(package="zoo")
class CharacterTokenizer(Tokenizer):
    """Text `[batch]` (tf.string) ↔ character ids `[batch, time]` (int32), in the graph.

    Ids are positions in `vocabulary` (`[PAD]` = 0 pads short rows, `[UNK]` = 1
    stands for characters the vocabulary lacks). The text is `prepare_text`'s
    (invalid UTF-8 bytes become U+FFFD, control characters spaces), so any
    byte string tokenises. The vocabulary file is
    `characters.json`, a JSON list (a line a character cannot hold "\\n").

    Example:

    >>> from zoo.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b"])
    >>> ids = tokenizer(["ab a", "bz"])
    >>> ids.numpy().tolist()
    [[3, 4, 2, 3], [4, 1, 0, 0]]
    >>> [t.decode() for t in tokenizer.detokenize(ids).numpy()]
    ['ab a', 'b�']
    """

    vocabulary_file = "characters.json"

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        vocabulary = list(vocabulary)
        if tuple(vocabulary[:2]) != WORD_RESERVED or len(vocabulary) < 3:
            raise ValueError(f"vocabulary must be {PAD!r}, {UNK!r}, then characters; got {vocabulary[:3]}")
        characters = vocabulary[2:]
        if any(len(c) != 1 for c in characters) or len(set(characters)) != len(characters):
            raise ValueError("vocabulary entries after [PAD], [UNK] must be distinct single characters")
        self.vocabulary = vocabulary
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(characters), tf.range(2, len(vocabulary), dtype=tf.int32)),
            default_value=UNK_ID)
        # What ids turn back into: padding into nothing, [UNK] into U+FFFD.
        self.characters = tf.constant(["", "\ufffd"] + characters)

    @property
    def resources(self):
        return [self.table]

    @staticmethod
    def format_vocabulary(vocabulary):
        return json.dumps(vocabulary, ensure_ascii=False)

    @staticmethod
    def parse_vocabulary(content):
        return json.loads(content)

    def call(self, text):
        text = tf.convert_to_tensor(text)
        if text.dtype != tf.string:
            raise TypeError(f"CharacterTokenizer takes tf.string text, got {text.dtype.name}")
        characters = tf.strings.unicode_split(prepare_text(text), "UTF-8")
        ids = tf.ragged.map_flat_values(self.table.lookup, characters).to_tensor(PAD_ID)
        # At least one (padding) column, so that an empty batch still has a time axis.
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def encode(self, text, chunk_characters=1_000_000):
        """One long Python string → int32 ids `[len(text)]` (NumPy), through the same graph ops as `call`.

        The text goes through in chunks of `chunk_characters`, so a corpus of
        100M characters never becomes one 100M-element string tensor.
        """
        chunks = [text[start: start + chunk_characters] for start in range(0, len(text), chunk_characters)]
        return np.concatenate([self(tf.constant([chunk]))[0].numpy() for chunk in chunks] or [np.zeros(0, np.int32)])

    def detokenize(self, ids):
        """Ids `[batch, time]` → text `[batch]`."""
        return tf.strings.reduce_join(tf.gather(self.characters, ids), axis=-1)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary}
