"""`TextGenerator`: the task of a text export (Graves 2013 §3, a character-level language model)."""

import math
from typing import NamedTuple

from zoo.models.graves import stream_negative_log_likelihood
from zoo.tasks.base import Task, decoded, rows


class Generation(NamedTuple):
    """Generated `text`; for a prime the export did not continue (empty), text "" and its `error`."""

    text: str
    error: str = ""


class TextGenerator(Task):
    """Writes text after a prime with a text export, and measures how well its model predicts a text.

    Args:
        path: a text export (`savedmodels/<name>` or a version directory).

    Example:

    >>> import tempfile
    >>> import zoo
    >>> from zoo import export, text
    >>> from zoo.models import GravesTextModel
    >>> characters = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b"])
    >>> model = GravesTextModel(characters.vocabulary_size, units=4, num_layers=2)
    >>> _ = model(model.example_input())
    >>> path = export.export_graves_text(model, characters, tempfile.mkdtemp(), tflite=False)
    >>> generator = zoo.load(path)  # untrained: it writes noise
    >>> sample = generator.generate("ab", length=10, seed=1)
    >>> len(sample.text), set(sample.text) <= set(" ab"), sample == generator.generate("ab", length=10, seed=1)
    (10, True, True)
    >>> generator.generate(["ab", ""], length=3)[1].error
    'empty prime text'
    >>> 0 < generator.bits_per_character("ab ba ab") < 8
    True
    """

    family = "text"

    def generate(self, prime, length=200, temperature=1.0, seed=0):
        """Samples `length` characters after each prime (the `generate` signature).

        Args:
            prime: a str, or a list of str: the text each sample goes on from
                (its last 10,000 characters are read).
            length: characters to write, 1 to 10,000.
            temperature: ≥ 0; the logits are divided by it, 0 is greedy.
            seed: the sampling seed of every prime: the same seed, the same text.

        Returns:
            A `Generation` per prime (one prime in: one result out), the text
            written after the prime (without it).
        """
        primes, single = rows(prime)
        n = len(primes)
        out = self._call("generate", ("length", "temperature"), text=primes, length=[length] * n,
                         temperature=[temperature] * n,
                         seed=[seed] * n)
        results = [Generation(decoded(text), decoded(error)) for text, error in zip(out["text"], out["error"])]
        return results[0] if single else results

    def bits_per_character(self, text, window=100):
        """How well the model predicts `text`: the mean of -log2 p(x_{t+1} | x_1..x_t) over its characters.

        `.model` reads the text in order, `window` characters a call, its
        states carried from one window to the next
        (`zoo.models.graves.stream_negative_log_likelihood`), as Graves
        evaluates; the export's `score` signature computes the same number
        without the Keras model. Characters outside the vocabulary read as `[UNK]`.

        Args:
            text: a str of at least 2 characters.
            window: characters read per call (the result does not depend on it).

        Returns:
            Bits per character, a float.
        """
        ids = self.tokenizer.encode(text)
        return stream_negative_log_likelihood(self.model, ids, window) / math.log(2)
