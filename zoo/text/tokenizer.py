"""What every tokenizer of the zoo shares: a fixed vocabulary, its file, save and load, the assets of an export."""

import keras
import tensorflow as tf

from zoo.text import reserved

# Unicode category Cc (the C0 controls, DEL and the C1 controls) but tab, line feed and carriage return.
CONTROL_CHARACTERS = r"[^\P{Cc}\t\n\r]"


def prepare_text(text):
    r"""What every tokenizer reads: text `[batch]` as valid UTF-8, control characters as spaces.

    Bytes that are not UTF-8 become U+FFFD; a NUL, an escape or any other
    control character (Unicode category Cc) becomes a space, so the words on
    either side stay words and nothing after it is lost (some string ops stop
    at a NUL); tab, line feed and carriage return are kept (documents end
    sentences at line breaks). Training and serving run the same ops.

    Example:

    >>> from zoo.text.tokenizer import prepare_text
    >>> prepare_text([b"hello\x00world", b"red\x1b[31m \xff!"]).numpy().tolist()
    [b'hello world', b'red [31m \xef\xbf\xbd!']
    """
    text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace")
    return tf.strings.regex_replace(text, CONTROL_CHARACTERS, " ")


class Tokenizer(keras.layers.Layer):
    """Base class of the zoo's tokenizers: a non-trainable Keras layer over a fixed `vocabulary`.

    A tokenizer owns what describes it outside the graph: `assets()` are the
    files an export carries in `assets.extra/` and `save(directory)` writes
    (the vocabulary as `vocabulary_file`, id = position, and whatever else a
    subclass adds); `load(directory)` reads them back. `resources` are the
    lookup tables or tokenizer modules its ops use, which an export must
    track. Reserved ids are `zoo.text.reserved`'s.

    Example:

    >>> import os, tempfile
    >>> from zoo.text import CharacterTokenizer
    >>> tokenizer = CharacterTokenizer(["[PAD]", "[UNK]", "\\n", "a"])
    >>> directory = tempfile.mkdtemp()
    >>> tokenizer.save(directory)
    >>> os.listdir(directory)
    ['characters.json']
    >>> CharacterTokenizer.load(directory).vocabulary == tokenizer.vocabulary
    True
    """

    vocabulary_file = "vocab.txt"
    pad_id = reserved.PAD_ID
    unk_id = reserved.UNK_ID

    def __init__(self, **kwargs):
        kwargs["trainable"] = False  # a lookup, nothing to train
        super().__init__(**kwargs)

    def __call__(self, text, **kwargs):
        # Keras layers take only tensors as inputs; a list of str/bytes is text too.
        if isinstance(text, (list, tuple)):
            try:
                text = tf.constant(text)
            except (TypeError, ValueError) as e:
                raise TypeError(f"{type(self).__name__} takes a list of str or bytes, got {text!r:.60}: {e}") from e
        return super().__call__(text, **kwargs)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    @property
    def resources(self):
        """The lookup tables (or tokenizer modules) the graph uses; an export tracks them."""
        raise NotImplementedError

    @staticmethod
    def format_vocabulary(vocabulary):
        """The vocabulary file's text: an entry a line."""
        return "".join(entry + "\n" for entry in vocabulary)

    @staticmethod
    def parse_vocabulary(content):
        return content.split("\n")[:-1]

    def assets(self):
        """`{file name: text or bytes}`: the files that describe this tokenizer outside the graph."""
        return {self.vocabulary_file: self.format_vocabulary(self.vocabulary)}

    def save(self, directory):
        """Writes `assets()` into `directory` (each file whole: written aside, then renamed)."""
        tf.io.gfile.makedirs(directory)
        for name, content in self.assets().items():
            path = f"{directory.rstrip('/')}/{name}"
            with tf.io.gfile.GFile(path + ".tmp", "wb" if isinstance(content, bytes) else "w") as f:
                f.write(content)
            tf.io.gfile.rename(path + ".tmp", path, overwrite=True)

    @classmethod
    def load(cls, directory, **kwargs):
        """The tokenizer whose vocabulary `save` wrote into `directory`; `kwargs` go to the constructor."""
        with tf.io.gfile.GFile(f"{directory.rstrip('/')}/{cls.vocabulary_file}") as f:
            return cls(cls.parse_vocabulary(f.read()), **kwargs)
