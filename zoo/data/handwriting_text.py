"""Graves 2013 §5, handwriting synthesis: IAM-OnDB lines with their text, cleaned, split and batched.

IAM-OnDB's `ascii-all.tar.gz` holds a transcription a form,
`ascii/<a01>/<a01-000>/<a01-000u>.txt`: an `OCR:` section (the printed text
the writer was given), then a `CSR:` section (what was written, a line of
text a line of handwriting). Line N after `CSR:`, blank lines skipped, is
the text of stroke file `<a01-000u>-NN.xml`. `read_iam_ondb_transcribed`
reads both trees (the strokes through `handwriting.read_iam_ondb`) and pairs
them; `clean_transcribed_lines` drops broken lines, `split_iam_ondb_tasks`
splits them as Graves did, and `synthesis_dataset` batches whole lines with
their character ids (`SYNTHESIS_ALPHABET`).

`demo.write_demo_synthesis` writes a small generated set in the same layout.
"""

import dataclasses
import os
import tarfile

import numpy as np
import tensorflow as tf

from zoo.data.demo import IAM_ONDB_ASCII_TREE
from zoo.data.files import DataError
from zoo.data.handwriting import START, Handwriting, read_iam_ondb, select_lines, split_by_form
from zoo.text.reserved import PAD_ID, WORD_RESERVED

ASCII_ARCHIVE = "ascii-all.tar.gz"

# `[PAD]`, `[UNK]`, then every character written at least 40 times in the
# 12,178 transcribed lines of IAM-OnDB (the CSR text of the 1,728 forms that
# pair up), in code point order: space; ! " # ' ( ) , - . : ; ? (in the
# transcriptions `#` stands for a struck-out word, drawn as a scribble, so it
# keeps an id of its own); the ten digits (the rarest, 8 and 7, 43 and 49
# times); the letters but Q, X and Z (19, 4 and 7 times): 72 characters.
# Fixed here so that the ids never depend on the data. Any other character
# (Q X Z + / [ ] * & é ...) maps to `[UNK]` (id 1) in
# `zoo.text.CharacterTokenizer(SYNTHESIS_ALPHABET)`, never an error: 52 of the
# 350,767 characters (0.015 %) of the real cleaned lines do.
SYNTHESIS_ALPHABET = (*WORD_RESERVED, *" !\"#'(),-.0123456789:;?ABCDEFGHIJKLMNOPRSTUVWYabcdefghijklmnopqrstuvwxyz")

# The IAM-OnDB task 1 lists of forms, and the part each goes to (Graves 2013 §4: "we used the training set,
# test set and the larger of the validation sets for training and the smaller validation set for early-stopping").
TASK_SPLIT_FILES = (("trainset.txt", "train"), ("testset_t.txt", "train"), ("testset_f.txt", "train"),
                    ("testset_v.txt", "valid"))


@dataclasses.dataclass
class TranscribedHandwriting(Handwriting):
    """`Handwriting` whose line `names[i]` also has its text, `texts[i]` (str)."""

    texts: list


def read_iam_ondb_transcribed(data_dir, max_lines=0):
    """Reads IAM-OnDB's line strokes with their text from `data_dir`, sorted by name.

    A form whose `CSR:` line count differs from its stroke file count (or
    whose files are not numbered 01..N, or that has no transcription) cannot
    be paired line by line, and is skipped whole: 2 of the 1,730 forms of the
    real set (`a08-551z`, 9 stroke files and 8 text lines, and `z01-000z`).

    Args:
        data_dir: holds `lineStrokes-all.tar.gz` or `lineStrokes/`, and
            `ascii-all.tar.gz` or `ascii/`.
        max_lines: > 0 reads about that many lines (whole forms), for quick runs.

    Returns:
        `(lines, skipped_forms)`: a `TranscribedHandwriting` (strokes as
        `handwriting.read_iam_ondb` makes them) and the sorted ids of the
        forms skipped.

    Raises:
        DataError: a tree or archive is missing or unreadable, or a
            transcription has no `CSR:` section (the message names the file).
    """
    strokes = read_iam_ondb(data_dir, max_lines, whole_forms=True)
    transcriptions = _read_transcriptions(data_dir)
    lines_of_form = {}
    for index, name in enumerate(strokes.names):
        lines_of_form.setdefault(name.rsplit("-", 1)[0], []).append(index)
    kept, texts, skipped = [], [], []
    for form, indices in sorted(lines_of_form.items()):
        text_lines = transcriptions.get(form, [])
        numbers = [strokes.names[i].rsplit("-", 1)[1] for i in indices]
        if numbers != [f"{n:02d}" for n in range(1, len(text_lines) + 1)]:
            skipped.append(form)
            continue
        kept += indices
        texts += text_lines
    lines = select_lines(strokes, kept)
    return TranscribedHandwriting(lines.names, lines.strokes, texts), skipped


def _read_transcriptions(data_dir):
    """`{form: [CSR text lines]}` of every `.txt` under `data_dir`'s `ascii/` tree or archive."""
    archive, tree = os.path.join(data_dir, ASCII_ARCHIVE), os.path.join(data_dir, IAM_ONDB_ASCII_TREE)
    transcriptions = {}
    if os.path.isdir(tree):
        for root, _, names in os.walk(tree):
            for name in sorted(n for n in names if n.endswith(".txt")):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    transcriptions[name[: -len(".txt")]] = _csr_lines(f.read(), path)
    elif os.path.exists(archive):
        try:
            with tarfile.open(archive) as tar:
                for member in tar:
                    if member.isfile() and member.name.endswith(".txt"):
                        where = f"{archive}:{member.name}"
                        transcriptions[os.path.basename(member.name)[: -len(".txt")]] = _csr_lines(
                            tar.extractfile(member).read(), where)
        except (tarfile.TarError, EOFError, OSError) as e:
            raise DataError(f"{archive}: not a readable tar.gz: {e}") from e
    else:
        raise DataError(f"no {ASCII_ARCHIVE} or {IAM_ONDB_ASCII_TREE}/ in {data_dir} (IAM-OnDB's transcriptions, "
                        "handed out with the strokes)")
    if not transcriptions:
        raise DataError(f"no transcription .txt files under {tree}")
    return transcriptions


def _csr_lines(content, where):
    """A transcription file's bytes → the non-blank text lines after its `CSR:` line, stripped."""
    lines = content.decode("iso-8859-1").splitlines()  # the IAM's encoding, as its XML's; some files end lines in CRLF
    start = next((i for i, line in enumerate(lines) if line.strip() == "CSR:"), None)
    if start is None:
        raise DataError(f"{where}: no CSR: section")
    return [line.strip() for line in lines[start + 1:] if line.strip()]


# Cleaning bounds, measured on the 12,178 transcribed lines of the real set (see `clean_transcribed_lines`).
MAX_OFFSET = 2000.0
MIN_POINTS_PER_CHARACTER = 5.0
MAX_POINTS_PER_CHARACTER = 60.0


def jumps(strokes, max_offset):
    """Whether a line's pen offset |Δx| or |Δy| exceeds `max_offset` somewhere (`clean_transcribed_lines`' reason 1)."""
    return bool(np.abs(strokes[:, :2]).max() > max_offset)


def clean_transcribed_lines(lines, max_offset=MAX_OFFSET, min_points_per_character=MIN_POINTS_PER_CHARACTER,
                            max_points_per_character=MAX_POINTS_PER_CHARACTER):
    """Drops the lines a synthesis network should not learn from, counting each reason.

    In order, a line is dropped when:
    1. `large_offset`: a pen offset |Δx| or |Δy| exceeds `max_offset` tracker
       units. On the 12,178 real lines (1,728 forms) the largest offset of a
       line has median 494 and 99th percentile 1,398 units, with no gap in the
       tail up to its maximum, 3,035; a line is 5,534 units wide (median) and
       a word about 1,000. Moves with the pen down reach at most 925; the large
       ones are pen-up moves, nearly all horizontal: the writer going back
       (or ahead) to dot, cross or insert. Up to ~2 words that is handwriting
       (dropping at 1,000, as some public re-implementations do, would drop
       385 lines, 3.2 %); beyond 2,000 the pen jumps across the line, out of
       the text's order: 30 lines (0.25 %).
    2. `empty_text`: its text is empty or blank (the reader never makes
       one, as blank CSR lines are skipped, but other sources may).
    3. `points_per_character`: its points per character of text (spaces
       included) fall outside [`min_points_per_character`,
       `max_points_per_character`], so text and strokes cannot match. On
       the real lines: median 21.4, 0.1st percentile 10.4, minimum 9.1,
       99.9th percentile 44.8, then 49.7, 53.9, 57.8, 61.3 and 108.9 (a
       struck-out word): 60 drops the last two (after step 1, one: the
       other also jumps 2,695 units); 5 drops none, a guard against
       misaligned text.
    Each line counts under its first reason only.

    Args:
        lines: a `TranscribedHandwriting` of raw (not normalised) offsets.
        max_offset: the largest |Δx| or |Δy| kept, in tracker units.
        min_points_per_character, max_points_per_character: the bounds of reason 3.

    Returns:
        `(kept, dropped)`: the lines kept (a `TranscribedHandwriting`) and
        `{reason: lines dropped}` for the three reasons above.
    """
    dropped = {"large_offset": 0, "empty_text": 0, "points_per_character": 0}
    kept = []
    for index, (strokes, text) in enumerate(zip(lines.strokes, lines.texts)):
        if jumps(strokes, max_offset):
            dropped["large_offset"] += 1
        elif not text.strip():
            dropped["empty_text"] += 1
        elif not min_points_per_character <= len(strokes) / len(text) <= max_points_per_character:
            dropped["points_per_character"] += 1
        else:
            kept.append(index)
    return select_lines(lines, kept), dropped


def split_iam_ondb_tasks(lines, splits_dir=None, holdout_every=20):
    """(train, valid) as Graves's §5: the IAM-OnDB task 1 lists, or by form where they are missing.

    With the lists (`trainset.txt`, `testset_t.txt`, `testset_f.txt`,
    `testset_v.txt` in `splits_dir`, a form id a line, e.g. " a01-020x",
    standing for all of its lines), training is trainset + testset_t +
    testset_f and validation (early stopping) testset_v; lines of forms on
    no list are left out. Where `splits_dir` is not given or not a folder,
    `handwriting.split_by_form(lines, holdout_every)` splits instead: its
    valid part validates, its train and test parts train (Graves held
    nothing else out).

    Args:
        lines: a `Handwriting` or `TranscribedHandwriting`.
        splits_dir: the folder of the four lists, or None.
        holdout_every: `split_by_form`'s, for the fallback.

    Returns:
        `(train, valid, info)`: the two parts (of `lines`'s class, sorted by
        name) and `{"split": "iam_ondb_task_lists" or "split_by_form",
        "unlisted_lines": lines of forms on no list}`.

    Raises:
        DataError: a list is missing or unreadable, or a form is on two lists.
    """
    if not splits_dir or not os.path.isdir(splits_dir):
        _, valid, _ = split_by_form(lines, holdout_every)
        in_valid = set(valid.names)
        train = select_lines(lines, [i for i, name in enumerate(lines.names) if name not in in_valid])
        return train, valid, {"split": "split_by_form", "unlisted_lines": 0}
    list_of_form = {}
    for file_name, _ in TASK_SPLIT_FILES:
        path = os.path.join(splits_dir, file_name)
        try:
            with open(path, encoding="ascii") as f:
                forms = [line.strip() for line in f if line.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: cannot read the IAM-OnDB task split list: {e}") from e
        for form in forms:
            if form in list_of_form:
                raise DataError(f"{path}: form {form} is also on {list_of_form[form]}")
            list_of_form[form] = file_name
    part_of_list = dict(TASK_SPLIT_FILES)
    parts = [part_of_list.get(list_of_form.get(name.rsplit("-", 1)[0])) for name in lines.names]
    train, valid = (select_lines(lines, [i for i, p in enumerate(parts) if p == part]) for part in ("train", "valid"))
    return train, valid, {"split": "iam_ondb_task_lists", "unlisted_lines": parts.count(None)}


def read_prediction_lines(data_dir, splits_dir=None, max_lines=0, fill_missing_readings=False):
    """IAM-OnDB's lines as handwriting prediction (Graves §4) trains on them: read, pen jumps dropped, split.

    The split is synthesis's (`split_iam_ondb_tasks`; `splits_dir` defaults
    to `data_dir/splits`): validation is testset_v, the set of Graves's
    table 3. A line with a pen offset over `MAX_OFFSET` is dropped, as
    `clean_transcribed_lines` drops it (the pen jumping across the line, out
    of the writing's order); the lines need no transcription.
    `fill_missing_readings` puts back the readings the tracker lost, as
    Graves did (`handwriting.filled_readings`). Returns
    `(train, valid, report)`, the report `{"kept": lines, "dropped":
    {"large_offset": lines}, "split": ..., "unlisted_lines": n}`.
    """
    lines = read_iam_ondb(data_dir, max_lines, fill_missing_readings=fill_missing_readings)
    kept = [index for index, strokes in enumerate(lines.strokes) if not jumps(strokes, MAX_OFFSET)]
    train, valid, split = split_iam_ondb_tasks(select_lines(lines, kept), splits_dir or os.path.join(data_dir, "splits"))
    return train, valid, {"kept": len(kept), "dropped": {"large_offset": len(lines) - len(kept)}, **split}


def read_synthesis_lines(data_dir, splits_dir=None, max_lines=0):
    """IAM-OnDB's transcribed lines as synthesis trains on them: read, cleaned, split into (train, valid).

    `splits_dir` defaults to `data_dir/splits` (the IAM task lists; by form
    where that is not a folder, see `split_iam_ondb_tasks`). Returns
    `(train, valid, report)`, the report `{"kept": lines after cleaning,
    "skipped_forms": [...], "dropped": {...}, "split": ..., "unlisted_lines": n}`.
    """
    lines, skipped_forms = read_iam_ondb_transcribed(data_dir, max_lines)
    lines, dropped = clean_transcribed_lines(lines)
    train, valid, split = split_iam_ondb_tasks(lines, splits_dir or os.path.join(data_dir, "splits"))
    return train, valid, {"kept": len(lines), "skipped_forms": skipped_forms, "dropped": dropped, **split}


def synthesis_dataset(lines, tokenizer, batch_size, shuffle=False, seed=None, max_points=1500,
                      bucket_boundaries=None):
    """A tf.data pipeline of `((inputs [B, T, 3], char_ids [B, U]), targets [B, T, 3], weights [B, T])`.

    Each row is a WHOLE line from its first point (the soft window has to
    start at the text's start): targets are its points, inputs the pen-up
    `START` (0, 0, 1) then the points but the last, so the network predicts
    point t from points < t. Lines of more than `max_points` points are cut
    to their first `max_points` (the text is kept whole: the window just
    never reaches its end); 1,500 cuts 9 of the 12,178 real lines (99.9th
    percentile 1,450 points, longest 1,940). Weights are 1 on points, 0 on padding; inputs
    and targets are padded with zeros, char ids with `[PAD]` (0). Char ids
    come from `tokenizer` (a `zoo.text.CharacterTokenizer`, the same graph
    ops as serving), once, up front. Lines are bucketed by length so that
    short lines are not padded to long ones; the last batch of a bucket may
    be smaller. Normalising the offsets is the caller's (`handwriting.normalise`).

    Args:
        lines: a `TranscribedHandwriting`.
        tokenizer: a `zoo.text.CharacterTokenizer`, e.g. over `SYNTHESIS_ALPHABET`.
        batch_size: lines a batch.
        shuffle: reshuffle the lines every iteration (seeded by `seed`).
        max_points: the longest line, in points; None: lines are not cut.
        bucket_boundaries: line lengths (points) between buckets; by default
            the length octiles of `lines`, so that buckets hold alike counts.

    Returns:
        A `tf.data.Dataset`.
    """
    if not len(lines):
        raise DataError("no handwriting lines to batch")
    strokes = [s[:max_points] for s in lines.strokes]
    lengths = np.array([len(s) for s in strokes])
    point_splits = tf.constant(np.concatenate([[0], np.cumsum(lengths)]), tf.int64)
    points = tf.constant(np.concatenate(strokes).astype(np.float32))
    ids = tokenizer(tf.constant(lines.texts, tf.string)).numpy()
    is_character = ids != PAD_ID  # no character maps to [PAD]: a row's ids are its non-pad entries
    id_splits = tf.constant(np.concatenate([[0], np.cumsum(is_character.sum(axis=1))]), tf.int64)
    char_ids = tf.constant(ids[is_character].astype(np.int32))

    def line(index):
        targets = points[point_splits[index]: point_splits[index + 1]]
        inputs = tf.concat([tf.constant([START], tf.float32), targets[:-1]], axis=0)
        weights = tf.ones(tf.shape(targets)[:1], tf.float32)
        return (inputs, char_ids[id_splits[index]: id_splits[index + 1]]), targets, weights

    if bucket_boundaries is None:
        bucket_boundaries = np.quantile(lengths, np.arange(1, 8) / 8).astype(int) + 1
    bucket_boundaries = sorted({int(b) for b in bucket_boundaries})
    dataset = tf.data.Dataset.range(len(lines))
    if shuffle:
        dataset = dataset.shuffle(len(lines), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(line, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.bucket_by_sequence_length(
        lambda inputs, targets, weights: tf.shape(targets)[0],
        bucket_boundaries=bucket_boundaries,
        bucket_batch_sizes=[batch_size] * (len(bucket_boundaries) + 1),
        padded_shapes=(([None, 3], [None]), [None, 3], [None]),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
