"""Plain-text corpora for character language models (Graves 2013, §3).

Each reader returns the `(train, valid, test)` text of a corpus in its
published format:
- `ptb_char`: Mikolov's `ptb.char.{train,valid,test}.txt` (characters
  separated by spaces, `_` for a space, a sentence a line) → plain text;
- `tinyshakespeare`: char-rnn's `input.txt`, split 90/5/5 % in order;
- `text8`: Mahoney's `text8.zip` (or `text8`), split 90M/5M/5M characters,
  the usual split;
- `plain`: any `train.txt`, `valid.txt`, `test.txt`;
- `demo`: generated text with a learnable structure, written as `plain`
  (see `demo.write_demo_corpus`).
"""

import os
import zipfile

import numpy as np
import tensorflow as tf

from zoo.data import demo, files
from zoo.data.files import DataError

CORPORA = ("demo", "plain", "ptb_char", "tinyshakespeare", "text8")
_URLS = {
    "tinyshakespeare": ("input.txt",
                        "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"),
    "text8": ("text8.zip", "http://mattmahoney.net/dc/text8.zip"),
}


def read_corpus(name, data_dir, download=False):
    """Returns `(train, valid, test)` strings of corpus `name` read from `data_dir`."""
    if name not in CORPORA:
        raise DataError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    if name == "demo":
        if not os.path.exists(os.path.join(data_dir, "train.txt")):
            demo.write_demo_corpus(data_dir)
        name = "plain"
    if name == "plain":
        return tuple(_read(os.path.join(data_dir, f"{split}.txt")) for split in ("train", "valid", "test"))
    if name == "ptb_char":
        return tuple(_ptb_char(_read(os.path.join(data_dir, f"ptb.char.{split}.txt")))
                     for split in ("train", "valid", "test"))
    filename, url = _URLS[name]
    path = os.path.join(data_dir, filename)
    if name == "text8" and not os.path.exists(path) and os.path.exists(os.path.join(data_dir, "text8")):
        path = os.path.join(data_dir, "text8")
    if not os.path.exists(path):
        if not download:
            raise DataError(f"no {filename} in {data_dir}; pass --download to fetch {url}")
        path = files.download(filename, url, data_dir)
    if name == "text8":
        text = _read_text8(path)
        return text[:90_000_000], text[90_000_000:95_000_000], text[95_000_000:]
    text = _read(path)
    a, b = int(len(text) * 0.9), int(len(text) * 0.95)
    return text[:a], text[a:b], text[b:]


def _read(path):
    if not os.path.exists(path):
        raise DataError(f"{path}: no such file")
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    if not text:
        raise DataError(f"{path}: empty file")
    return text


def _ptb_char(text):
    """`a e r _ b a n k` lines → `aer bank` lines."""
    return "\n".join("".join(" " if c == "_" else c for c in line.split()) for line in text.splitlines()) + "\n"


def _read_text8(path):
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                return archive.read("text8").decode("utf-8")
        return _read(path)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DataError(f"{path}: not the text8 archive: {e}") from e


def window_dataset(ids, sequence_length, batch_size, shuffle=False, seed=None):
    """(inputs, next-character targets) windows `[batch, sequence_length]` of an id stream.

    Windows do not overlap and each starts from zero LSTM states: batches
    are independent, so they can be shuffled. Graves carried the states from
    window to window instead: see `stream_dataset`.
    """
    windows = len(ids) // (sequence_length + 1)
    if windows == 0:
        raise DataError(f"text of {len(ids)} characters is shorter than one window of {sequence_length + 1}")
    ids = ids[: windows * (sequence_length + 1)].reshape(windows, sequence_length + 1)
    dataset = tf.data.Dataset.from_tensor_slices((ids[:, :-1], ids[:, 1:]))
    if shuffle:
        dataset = dataset.shuffle(windows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def stream_dataset(ids, sequence_length, batch_size):
    """(inputs, targets) `[batch_size, sequence_length]` that go on from the previous batch, row by row.

    The stream is cut into `batch_size` consecutive parts, one a row; batch k
    holds characters k·T .. (k+1)·T - 1 of every part (T = sequence_length),
    in order, so a model that carries each row's LSTM states from one batch to
    the next reads every part from its start (truncated backpropagation
    through time, as Graves trained, §3; `zoo.models.graves.CarriedStateTrainer`).
    Every batch is full: the stream's last characters, fewer than
    `batch_size` · T + 1, are left out. Not shuffled: order is the point.
    """
    part = (len(ids) - 1) // batch_size
    windows = part // sequence_length
    if windows == 0:
        raise DataError(f"text of {len(ids)} characters is shorter than {batch_size} rows of {sequence_length + 1}")
    part = windows * sequence_length
    rows = [ids[r * part: (r + 1) * part + 1] for r in range(batch_size)]
    inputs = np.stack([row[:-1] for row in rows]).reshape(batch_size, windows, sequence_length)
    targets = np.stack([row[1:] for row in rows]).reshape(batch_size, windows, sequence_length)
    dataset = tf.data.Dataset.from_tensor_slices((inputs.transpose(1, 0, 2), targets.transpose(1, 0, 2)))
    return dataset.prefetch(tf.data.AUTOTUNE)
