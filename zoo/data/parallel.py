"""Parallel text for translation (Sutskever 2014, Cho 2014, GNMT 2016): published formats → tf.data.

`read_parallel` returns the `(train, valid, test)` sentence pairs of a set in
its published format:
- `multi30k`: Multi30k task 1 (Elliott et al. 2016) as github.com/multi30k/dataset
  publishes it in `data/task1/raw/`: `train.<lang>.gz`, `val.<lang>.gz`,
  `test_2016_flickr.<lang>.gz` (or the same names unzipped), languages en, de,
  fr, cs; `download=True` fetches missing files from that repository;
- `files`: any line-aligned text, one sentence a line (WMT, IWSLT after
  extraction): `train.<lang>`, `valid.<lang>`, `test.<lang>`, each plain or `.gz`;
- `tatoeba`: the ManyThings/Tatoeba Anki pairs, `<lang>-eng.zip` (e.g.
  `spa-eng.zip` holding `spa-eng/spa.txt`, or the `.txt` itself): lines
  `English<TAB>Other[<TAB>attribution]`, no published split (see `read_tatoeba`);
- `demo`: a generated task written in the `files` format (see `demo.write_demo_parallel`).

Line i of a source file is translated by line i of its target file. Pairs with
an empty (or white space only) side are skipped and counted in
`ParallelText.skipped`; other problems with the files raise `DataError` with a
one-line message naming the file (and line).
"""

import dataclasses
import gzip
import os
import zipfile
import zlib

import tensorflow as tf

from zoo.data import demo, files
from zoo.data.demo import DEMO_LANGUAGES, PARALLEL_SPLITS
from zoo.data.files import DataError

PARALLEL_SETS = ("demo", "multi30k", "files", "tatoeba")
_MULTI30K_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/"
_MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
# ManyThings names its files by ISO 639-3 code; the TF tutorial's spa-eng.zip is the one direct download.
_TATOEBA_CODES = {
    "ar": "ara", "cs": "ces", "de": "deu", "es": "spa", "fi": "fin", "fr": "fra", "he": "heb", "hu": "hun",
    "it": "ita", "ja": "jpn", "nl": "nld", "pl": "pol", "pt": "por", "ru": "rus", "tr": "tur", "uk": "ukr",
    "zh": "cmn",
}
_TATOEBA_URLS = {"spa": "https://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"}


@dataclasses.dataclass
class ParallelText:
    """Sentence pairs: `targets[i]` translates `sources[i]`; `skipped` pairs had an empty side."""

    sources: list
    targets: list
    skipped: int = 0

    def __len__(self):
        return len(self.sources)


def read_parallel(name, data_dir, source_language="en", target_language="de", download=False):
    """Reads parallel set `name` from `data_dir`; returns `(train, valid, test)` ParallelText.

    Languages are the file suffixes (`en`, `de`, ...; for `tatoeba` one side
    must be `en`). The demo set ignores them: it is generated into `data_dir`
    when missing, as `{train,valid,test}.{src,tgt}`. With `download=True` a
    missing Multi30k file, or spa-eng.zip, is fetched into `data_dir` first.
    """
    if name not in PARALLEL_SETS:
        raise DataError(f"unknown parallel set {name!r}; known: {', '.join(PARALLEL_SETS)}")
    if name == "demo":
        if not all(os.path.exists(os.path.join(data_dir, f"{split}.{language}"))
                   for split in PARALLEL_SPLITS for language in DEMO_LANGUAGES):
            demo.write_demo_parallel(data_dir)
        return read_files(data_dir, *DEMO_LANGUAGES)
    if name == "files":
        return read_files(data_dir, source_language, target_language)
    if name == "tatoeba":
        return read_tatoeba(data_dir, source_language, target_language, download)
    return tuple(_read_pairs(*(_multi30k_file(data_dir, split, language, download)
                               for language in (source_language, target_language)))
                 for split in _MULTI30K_SPLITS)


def _multi30k_file(data_dir, split, language, download):
    name = f"{split}.{language}.gz"
    for candidate in (name, name[: -len(".gz")]):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    url = _MULTI30K_URL + name
    if not download:
        raise DataError(f"no {name} (or {name[: -len('.gz')]}) in {data_dir}; pass --download to fetch {url}")
    return files.download(name, url, data_dir)


def read_files(data_dir, source_language, target_language):
    """Reads `{train,valid,test}.<language>` (each plain or `.gz`) from `data_dir`."""
    return tuple(_read_pairs(*(_plain_or_gz(os.path.join(data_dir, f"{split}.{language}"))
                               for language in (source_language, target_language)))
                 for split in PARALLEL_SPLITS)


def _plain_or_gz(path):
    for candidate in (path, path + ".gz"):
        if os.path.exists(candidate):
            return candidate
    raise DataError(f"{path}: no such file (nor {os.path.basename(path)}.gz)")


def _read_pairs(source_path, target_path):
    sources, targets = _read_lines(source_path), _read_lines(target_path)
    if len(sources) != len(targets):
        (shorter, n), (longer, m) = sorted([(source_path, len(sources)), (target_path, len(targets))],
                                           key=lambda file: file[1])
        raise DataError(f"{shorter}:{n}: file ends here but {longer} has {m} lines (the files must be line-aligned)")
    pairs = _pairs(zip(sources, targets))
    if not pairs:
        raise DataError(f"{source_path}, {target_path}: no pair with both sides non-empty")
    return pairs


def _read_lines(path):
    """The lines of a UTF-8 (invalid bytes → U+FFFD) text file, plain or gzip; only `\\n` ends a line."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="\n") as f:
            lines = [line.rstrip("\n") for line in f]
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read: {e}") from e
    if not lines:
        raise DataError(f"{path}: empty file")
    return lines


def _pairs(pairs):
    """ParallelText of `(source, target)` strings, stripped; pairs with an empty side are counted, not kept."""
    sources, targets, skipped = [], [], 0
    for source, target in pairs:
        source, target = source.strip(), target.strip()
        if source and target:
            sources.append(source)
            targets.append(target)
        else:
            skipped += 1
    return ParallelText(sources, targets, skipped)


def read_tatoeba(data_dir, source_language="en", target_language="es", download=False):
    """Reads a ManyThings/Tatoeba Anki file; returns `(train, valid, test)` ParallelText.

    `data_dir` is the `.zip` or `.txt` itself, or a folder holding
    `<lang>-eng.zip`, `<lang>.txt` or `<lang>-eng/<lang>.txt`, `<lang>` being
    ManyThings' ISO 639-3 code (`spa`, `deu`, ...; two-letter codes are mapped).
    Lines are `English<TAB>Other`, optionally `<TAB>attribution` (ignored).
    The source is the English column when `source_language` is `en`, else
    the other column (then `target_language` must be `en`). A pair with an
    empty side (a blank line is one) is skipped and counted in the `skipped`
    of the split its English side hashes to.

    No split is published, and the file is sorted by length with each English
    sentence repeated for each of its translations. So pairs are split by a
    hash of their English sentence: CRC-32 of its UTF-8 bytes mod 20 is 0 →
    test, 1 → valid, else train — about 90/5/5 %, the same for any order or
    subset of the file, and every translation of one English sentence lands
    in the same split.
    """
    english_codes = ("en", "eng")
    if source_language in english_codes:
        other = target_language
    elif target_language in english_codes:
        other = source_language
    else:
        raise DataError(f"tatoeba pairs English with another language: source or target must be 'en', "
                        f"got {source_language!r}, {target_language!r}")
    path = _tatoeba_file(data_dir, _TATOEBA_CODES.get(other, other), download)
    where, lines = _tatoeba_lines(path)
    splits = [([], []) for _ in PARALLEL_SPLITS]
    skipped = [0] * len(PARALLEL_SPLITS)
    for number, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) < 2:
            if line.strip():
                raise DataError(f"{where}:{number}: no tab: expected English<TAB>translation[<TAB>attribution]")
            fields = ["", ""]  # a blank line: a pair with both sides empty
        english, translation = fields[0].strip(), fields[1].strip()
        split = _tatoeba_split(english)
        if not (english and translation):
            skipped[split] += 1
            continue
        sources, targets = splits[split]
        sources.append(english if source_language in english_codes else translation)
        targets.append(translation if source_language in english_codes else english)
    if not any(sources for sources, _ in splits):
        raise DataError(f"{where}: no pair with both sides non-empty")
    return tuple(ParallelText(sources, targets, n) for (sources, targets), n in zip(splits, skipped))


def _tatoeba_split(english):
    """0 (train), 1 (valid) or 2 (test) by CRC-32 of the sentence mod 20: 2..19, 1, 0."""
    bucket = zlib.crc32(english.encode("utf-8")) % 20
    return 2 if bucket == 0 else 1 if bucket == 1 else 0


def _tatoeba_file(data_dir, code, download):
    if os.path.isfile(data_dir):
        return data_dir
    candidates = [f"{code}-eng.zip", f"{code}.txt", os.path.join(f"{code}-eng", f"{code}.txt")]
    for candidate in candidates:
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    missing = f"no {' or '.join(candidates)} in {data_dir}"
    url = _TATOEBA_URLS.get(code)
    if url is None:
        raise DataError(f"{missing}; download {code}-eng.zip from https://www.manythings.org/anki/")
    if not download:
        raise DataError(f"{missing}; pass --download to fetch {url}")
    return files.download(candidates[0], url, data_dir)


def _tatoeba_lines(path):
    """`(name for messages, lines)` of a `.txt`, or of the one `<lang>.txt` in a `.zip`."""
    try:
        if path.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                members = [m for m in archive.namelist()
                           if m.endswith(".txt") and not os.path.basename(m).startswith("_")]
                if len(members) != 1:
                    raise DataError(f"{path}: expected one <lang>.txt in the zip besides _about.txt, "
                                    f"found {members or 'none'}")
                where, data = f"{path}:{members[0]}", archive.read(members[0])
        else:
            with open(path, "rb") as f:
                where, data = path, f.read()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise DataError(f"{path}: cannot read: {e}") from e
    if not data.strip():
        raise DataError(f"{where}: empty file")
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":  # the newline that ends the last line
        lines.pop()
    return where, [line.rstrip("\r") for line in lines]


def decoder_sequences(tokenizer, target_ids):
    """Target piece ids `[batch, (pieces)]` (ragged) → `(decoder_inputs, decoder_targets)`, ragged int32.

    `[START]` + the pieces is what the decoder reads, the pieces + `[END]` what
    it must write, step by step: for training, and for scoring a given
    translation the same way (`zoo.export.translation`).
    """
    column = tf.ones([target_ids.nrows(out_type=tf.int32), 1], tf.int32)
    return (tf.concat([column * tokenizer.start_id, target_ids], axis=1),
            tf.concat([target_ids, column * tokenizer.end_id], axis=1))


def translation_dataset(pairs, tokenizer, batch_size, max_length, shuffle=False, seed=None, bucket_boundaries=None):
    """A tf.data pipeline of `((source_ids [B, S], decoder_inputs [B, T]), decoder_targets [B, T])`, int32.

    `tokenizer` is a `zoo.text.SubwordTokenizer`. Sources are cut to
    `max_length` pieces; targets to `max_length - 1`, then `decoder_inputs`
    is `[START]` + target and `decoder_targets` is target + `[END]`, so T ≤
    `max_length`. Rows are padded with 0 (`[PAD]`). Pairs are tokenised once
    (in batches, in the pipeline) and cached; a pair whose source has no piece
    is left out. With `shuffle` the order changes every iteration (seeded by
    `seed`). Batches are bucketed by max(S, T) at `bucket_boundaries` (default
    every 8 pieces), so short pairs are not padded to long ones; the last batch
    of a bucket may be smaller.
    """
    if max_length < 2:
        raise ValueError(f"max_length must be at least 2 ([START]/[END] and a piece), got {max_length}")
    if bucket_boundaries is None:
        bucket_boundaries = range(8, max_length + 1, 8)
    bucket_boundaries = list(bucket_boundaries)

    def encode(sources, targets):
        decoder_inputs, decoder_targets = decoder_sequences(tokenizer, tokenizer(targets)[:, : max_length - 1])
        return (tokenizer(sources)[:, :max_length], decoder_inputs), decoder_targets

    dataset = tf.data.Dataset.from_tensor_slices((tf.constant(pairs.sources, tf.string),
                                                  tf.constant(pairs.targets, tf.string)))
    dataset = dataset.batch(1024).map(encode, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    # Unbatched ragged rows are plain tensors typed as ragged; padded_batch needs them typed as tensors.
    dataset = dataset.map(lambda *pair: tf.nest.map_structure(tf.identity, pair))
    dataset = dataset.filter(lambda inputs, targets: tf.size(inputs[0]) > 0).cache()
    if shuffle:
        dataset = dataset.shuffle(len(pairs), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, targets: tf.maximum(tf.shape(inputs[0])[0], tf.shape(targets)[0]),
        bucket_boundaries=bucket_boundaries,
        bucket_batch_sizes=[batch_size] * (len(bucket_boundaries) + 1),
        padded_shapes=(([None], [None]), [None]),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
