"""`Translator`: the task of a translation export (Sutskever, Cho, GNMT)."""

from typing import NamedTuple

import numpy as np

from zoo.alignment import draw_alignment
from zoo.export import reader
from zoo.export.core import SERVING_SIGNATURE
from zoo.tasks.base import Task, decoded, rows


class Translation(NamedTuple):
    """A translation: its `text`, its `score` and, for a text the export did not translate, the `error`.

    `score` is the beam search's s(Y, X) (Wu et al. 2016 §7: the
    log-probability over the length penalty, plus the coverage penalty);
    a text that was not translated has text "", score -inf and its `error`.
    """

    text: str
    score: float
    error: str = ""


class TranslationScore(NamedTuple):
    """The model's log-probability of a given translation (forced decoding).

    `score` is the total (`[END]` included); `pieces` are the target's
    SentencePiece pieces, then "[END]"; `piece_scores` float32 `[len(pieces)]`
    the log-probability of each. A pair the export did not score has score
    -inf, no pieces and its `error`.
    """

    score: float
    pieces: list
    piece_scores: np.ndarray
    error: str = ""


class Alignment(NamedTuple):
    """Which source pieces each target piece attended to: `attention` `[len(target_pieces), len(source_pieces)]`.

    Row t is the attention of the step that predicted target piece t (the
    last is "[END]"). A pair the export did not align has empty pieces and
    attention, and its `error`.
    """

    attention: np.ndarray
    source_pieces: list
    target_pieces: list
    error: str = ""

    def save(self, path):
        """Draws the alignment as a heatmap (`zoo.alignment.draw_alignment`) to `path` (.png or .svg); returns it."""
        draw_alignment(self.attention, self.source_pieces, self.target_pieces, path)
        return path


class Translator(Task):
    """Translates text with a translation export: its beam search, its scores, its alignment.

    Every method takes one text (or pair) and returns one result, or takes a
    list and returns a list. A text the export cannot serve (empty: no
    SentencePiece piece) comes back with its `error`; an argument of the
    whole request it refuses (a beam size outside 1 to 16, say) raises
    ValueError with the export's message.

    Args:
        path: a translation export (`savedmodels/<name>` or a version directory).

    Attributes:
        settings: the export's `translation.json`: `max_length` (pieces of a
            source read and of a translation written), the tuned `beam_size`,
            `alpha`, `beta` (`translate`'s defaults), `max_beam_size` and the
            reserved ids.

    Example:

    >>> import tempfile
    >>> import zoo
    >>> from zoo import export, text
    >>> from zoo.models import ChoEncoderDecoder
    >>> pieces = text.SubwordTokenizer(text.build_subword_model(["a dog runs.", "ein Hund rennt."] * 20, 300))
    >>> model = ChoEncoderDecoder(pieces.vocabulary_size, embedding_dim=4, units=4, maxout_units=2)
    >>> _ = model(model.example_input())
    >>> path = export.export_translation(model, pieces, tempfile.mkdtemp(), max_length=8, tflite=False)
    >>> translator = zoo.load(path)  # untrained: its translations are noise
    >>> translated, empty = translator.translate(["A dog runs.", ""])
    >>> type(translated.text), translated.score < 0, empty.error
    (<class 'str'>, True, 'empty source text (no piece)')
    >>> best, second = translator.translate("A dog runs.", beam_size=4, n_best=2)
    >>> best.score >= second.score
    True
    >>> scored = translator.score("A dog runs.", "Hund.")
    >>> scored.pieces[-1], bool(np.isclose(scored.piece_scores.sum(), scored.score))
    ('[END]', True)
    """

    family = "translation"

    def __init__(self, path):
        super().__init__(path)
        self.settings = reader.read_json(self.path, "translation.json")

    def translate(self, texts, beam_size=None, alpha=None, beta=None, n_best=1):
        """Translates `texts` with the export's beam search.

        Without arguments this is the export's `serving_default`, with its
        tuned beam size, α and β; with any, its `beam_search`, the others
        taking the export's values (`settings`).

        Args:
            texts: a str, or a list of str.
            beam_size: hypotheses kept each step, 1 to `settings["max_beam_size"]`.
            alpha: α ≥ 0 of the length penalty (0: none).
            beta: β ≥ 0 of the coverage penalty (0: none; models with attention).
            n_best: hypotheses returned per text, 1 to the beam size.

        Returns:
            A `Translation` per text; with `n_best` > 1 a list of them per
            text, best first (fewer when the search ended with fewer; one,
            with the error, for a text not translated). One text in: one result out.
        """
        texts, single = rows(texts)
        if (beam_size, alpha, beta, n_best) == (None, None, None, 1):
            out = self._call(SERVING_SIGNATURE, text=texts)
            results = [Translation(decoded(text), float(score), decoded(error))
                       for text, score, error in zip(out["translation"], out["score"], out["error"])]
        else:
            results = self._search(texts, *(self.settings[name] if value is None else value
                                             for name, value in (("beam_size", beam_size), ("alpha", alpha),
                                                                 ("beta", beta))), n_best)
        return results[0] if single else results

    def _search(self, texts, beam_size, alpha, beta, n_best):
        """`beam_search`'s `n_best` hypotheses of each text: a list of `Translation`s a text."""
        if n_best < 1 or 1 <= beam_size < n_best:  # a beam size out of range: the export says so
            raise ValueError(f"n_best must be in [1, beam_size = {beam_size}], got {n_best}")
        n = len(texts)
        out = self._call("beam_search", text=texts, beam_size=[beam_size] * n, alpha=[alpha] * n, beta=[beta] * n)
        results = []
        for translations, scores, error in zip(out["translations"], out["scores"], out["error"]):
            if error:
                results.append([Translation("", -np.inf, decoded(error))])
            else:  # an empty slot (fewer hypotheses than beams) scores -inf
                results.append([Translation(decoded(text), float(score))
                                for text, score in zip(translations[:n_best], scores[:n_best]) if score > -np.inf])
        return [hypotheses[0] for hypotheses in results] if n_best == 1 else results

    def score(self, sources, targets):
        """The model's log-probability of each target as the translation of its source (the `score` signature).

        Args:
            sources: a str, or a list of str.
            targets: as many: a str, or a list of str.

        Returns:
            A `TranslationScore` per pair (one pair in: one result out).
        """
        (sources, single), (targets, _) = rows(sources), rows(targets)
        out = self._call("score", source=sources, target=targets)
        results = [TranslationScore(float(score), [decoded(p) for p in pieces[:length]], piece_scores[:length],
                                    decoded(error))
                   for score, pieces, piece_scores, length, error in zip(out["score"], out["pieces"],
                                                                         out["piece_scores"], out["lengths"],
                                                                         out["error"])]
        return results[0] if single else results

    def alignment(self, sources, targets):
        """The attention of the model translating each source into its target (the `alignment` signature).

        Only models with attention (GNMT) have one; translate first to align
        the model's own translation.

        Args:
            sources: a str, or a list of str.
            targets: as many: a str, or a list of str.

        Returns:
            An `Alignment` per pair (one pair in: one result out); `.save(path)` draws it.

        Raises:
            ValueError: the model has no attention (its export has no `alignment` signature).
        """
        if "alignment" not in self.signatures:
            raise ValueError(f"{self.path}: {self.metadata['class_name']} has no attention: its export has no "
                             "alignment signature")
        (sources, single), (targets, _) = rows(sources), rows(targets)
        out = self._call("alignment", source=sources, target=targets)
        results = []
        for attention, source_pieces, target_pieces, error in zip(out["attention"], out["source_pieces"],
                                                                  out["target_pieces"], out["error"]):
            source, target = _pieces(source_pieces), _pieces(target_pieces)
            results.append(Alignment(attention[:len(target), :len(source)], source, target, decoded(error)))
        return results[0] if single else results


def _pieces(padded):
    """A row of pieces (bytes, "" as padding after the real ones) as a list of str."""
    return [decoded(piece) for piece in padded if piece]
