"""Document classification data: published on-disk formats → tf.data.

Readers, each for a format exactly as its publisher distributes it:
- Zhang, Zhao & LeCun 2015 CSVs (`train.csv`, `test.csv`, optional
  `classes.txt`): rows `"class","title",...,"text"`, class numbers from 1,
  newlines escaped as `\\n` — Yelp review full/polarity, Yahoo Answers,
  Amazon review full/polarity, AG News, DBpedia (the sets HAN reports on).
- Pang & Lee 2004 `review_polarity.tar.gz` (movie reviews, one sentence a
  line, folds cv000-cv899 train, cv900-cv999 test).
- Maas et al. 2011 aclImdb tarball (`train/`, `test/`, `pos/`, `neg/`): `imdb`
  (the two polarities) or `imdb_ratings` (the star rating in each file
  name, `<id>_<rating>.txt`: 1-4 and 7-10, 8 classes).
- the zoo's generated demo set, written in the Zhang CSV format.

Every reader returns a train and a test `Documents`; problems with the files
raise `DataError` with a one-line message naming the file (and line).
"""

import csv
import dataclasses
import os
import re
import sys
import tarfile

import numpy as np
import tensorflow as tf

from zoo.data import demo, files
from zoo.data.files import DataError


@dataclasses.dataclass
class Documents:
    texts: list
    labels: list
    class_names: list

    def __len__(self):
        return len(self.texts)


# Published archives of the Zhang et al. 2015 CSV sets (fast.ai's mirror of the
# authors' files) and of the other sets, for --download.
_ZHANG_URL = "https://s3.amazonaws.com/fast-ai-nlp/{name}_csv.tgz"
ZHANG_SETS = (
    "yelp_review_full", "yelp_review_polarity", "yahoo_answers", "amazon_review_full",
    "amazon_review_polarity", "ag_news", "dbpedia",
)
_ARCHIVES = {
    "movie_review_polarity": ("review_polarity.tar.gz",
                              "https://www.cs.cornell.edu/people/pabo/movie-review-data/review_polarity.tar.gz"),
    "imdb": ("aclImdb_v1.tar.gz", "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"),
}
_ARCHIVES["imdb_ratings"] = _ARCHIVES["imdb"]
DATASETS = ("demo", "zhang_csv", "movie_review_polarity", "imdb", "imdb_ratings") + ZHANG_SETS
# aclImdb's labelled reviews are rated 1-4 (neg) or 7-10 (pos); the neutral 5 and 6 were left out by its authors.
IMDB_RATINGS = ("1", "2", "3", "4", "7", "8", "9", "10")


def hold_out(documents, fraction, seed):
    """`(rest, held out)`: `fraction` of `documents`, drawn with `seed`, held out (e.g. to validate on)."""
    order = np.random.default_rng(seed).permutation(len(documents))
    count = max(1, round(fraction * len(documents)))
    if count >= len(documents):
        raise DataError(f"cannot hold out {fraction:.0%} of {len(documents)} documents and train on the rest")

    def subset(indices):
        indices = sorted(indices)
        return Documents([documents.texts[i] for i in indices], [documents.labels[i] for i in indices],
                         documents.class_names)

    return subset(order[count:]), subset(order[:count])


def load_documents(name, data_dir, download=False):
    """Reads data set `name` from `data_dir`; returns `(train, test)` Documents.

    With `download=True` a missing published archive is fetched into
    `data_dir` first (needs internet). The demo set is generated into
    `data_dir` when missing.
    """
    if name not in DATASETS:
        raise DataError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    if name == "demo":
        if not os.path.exists(os.path.join(data_dir, "train.csv")):
            demo.write_demo_set(data_dir)
        return read_zhang_csv(data_dir)
    if name == "zhang_csv":
        return read_zhang_csv(data_dir)
    if name in ZHANG_SETS:
        return read_zhang_csv(_find_zhang_folder(name, data_dir, download))
    archive = _find_archive(name, data_dir, download)
    reader = {"movie_review_polarity": read_movie_review_polarity, "imdb": read_imdb,
              "imdb_ratings": read_imdb_ratings}[name]
    return reader(archive)


def _find_zhang_folder(name, data_dir, download):
    """The folder of a Zhang et al. set's CSVs: as the tarball unpacks, as keras.utils.get_file
    unpacks it (`<name>_csv_extracted/<name>_csv`), or `data_dir` itself."""
    candidates = [os.path.join(data_dir, f"{name}_csv"),
                  os.path.join(data_dir, f"{name}_csv_extracted", f"{name}_csv"), data_dir]
    for folder in candidates:
        if os.path.exists(os.path.join(folder, "train.csv")):
            return folder
    url = _ZHANG_URL.format(name=name)
    if not download:
        raise DataError(f"no {name}_csv/train.csv in {data_dir}; pass --download to fetch {url}")
    return os.path.join(files.download(f"{name}_csv.tgz", url, data_dir, extract=True), f"{name}_csv")


def _find_archive(name, data_dir, download):
    filename, url = _ARCHIVES[name]
    candidates = [filename] + (["aclImdb_train_test.tar.gz"] if filename == "aclImdb_v1.tar.gz" else [])
    for candidate in candidates:
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    if download:
        return files.download(filename, url, data_dir)
    raise DataError(f"no {' or '.join(candidates)} in {data_dir}; pass --download to fetch {url}")


def read_zhang_csv(folder):
    """Reads `train.csv` and `test.csv` (and `classes.txt` if present) of a Zhang et al. set."""
    train_path, test_path = os.path.join(folder, "train.csv"), os.path.join(folder, "test.csv")
    for path in (train_path, test_path):
        if not os.path.exists(path):
            raise DataError(f"{path}: no such file")
    train_texts, train_labels = _read_zhang_file(train_path)
    test_texts, test_labels = _read_zhang_file(test_path)
    classes_path = os.path.join(folder, "classes.txt")
    num_classes = max(train_labels) + 1
    if os.path.exists(classes_path):
        with open(classes_path, encoding="utf-8") as f:
            class_names = [line.strip() for line in f if line.strip()]
    else:  # Yelp and Amazon ship no classes.txt: their classes are star ratings 1..K.
        class_names = [str(k + 1) for k in range(num_classes)]
    for path, labels in ((train_path, train_labels), (test_path, test_labels)):
        if max(labels) >= len(class_names):
            raise DataError(f"{path}: class {max(labels) + 1} but only {len(class_names)} classes")
    return (Documents(train_texts, train_labels, class_names),
            Documents(test_texts, test_labels, class_names))


def _read_zhang_file(path):
    texts, labels = [], []
    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, strict=True)
        try:
            for row in reader:
                line = reader.line_num
                if len(row) < 2:
                    raise DataError(f"{path}:{line}: malformed row: expected \"class\",\"text\"... "
                                    f"but got {len(row)} field(s)")
                if not re.fullmatch(r"[1-9][0-9]*", row[0].strip()):
                    raise DataError(f"{path}:{line}: malformed row: class must be a number from 1, "
                                    f"got {row[0][:20]!r}")
                labels.append(int(row[0]) - 1)
                # Title and body become sentences of one document.
                texts.append("\n".join(field.replace("\\n", "\n") for field in row[1:]))
        except csv.Error as e:
            raise DataError(f"{path}:{reader.line_num}: malformed CSV: {e}") from e
    if not texts:
        raise DataError(f"{path}: no rows")
    return texts, labels


def read_movie_review_polarity(archive):
    """Reads Pang & Lee's `review_polarity.tar.gz`: cv000-cv899 train, cv900-cv999 test."""
    pattern = re.compile(r"txt_sentoken/(?P<label>neg|pos)/cv(?P<fold>\d{3})_[^/]*\.txt$")
    return _read_labelled_tar(archive, pattern, lambda match: "train" if int(match["fold"]) < 900 else "test",
                              ("neg", "pos"))


def read_imdb(archive):
    """Reads the aclImdb tarball of Maas et al. 2011 (the labelled train/test reviews), classes neg and pos."""
    pattern = re.compile(r"aclImdb/(?P<split>train|test)/(?P<label>neg|pos)/\d+_\d+\.txt$")
    return _read_labelled_tar(archive, pattern, lambda match: match["split"], ("neg", "pos"))


def read_imdb_ratings(archive):
    """Reads the aclImdb reviews with their star rating (`<id>_<rating>.txt`) as the class: `IMDB_RATINGS`."""
    pattern = re.compile(r"aclImdb/(?P<split>train|test)/(?:neg|pos)/\d+_(?P<label>\d+)\.txt$")
    return _read_labelled_tar(archive, pattern, lambda match: match["split"], IMDB_RATINGS)


def _read_labelled_tar(archive, pattern, split_of, class_names):
    """Reads the review files of a tarball; `split_of(match)` names a file's split, `match["label"]` its class."""
    class_names = list(class_names)
    splits = {"train": ([], []), "test": ([], [])}
    for member, text in _tar_texts(archive, pattern):
        match = pattern.search(member)
        if match["label"] not in class_names:
            raise DataError(f"{archive}: {member}: class {match['label']!r} is none of {class_names}")
        texts, labels = splits[split_of(match)]
        texts.append(text)
        labels.append(class_names.index(match["label"]))
    for split, (texts, _) in splits.items():
        if not texts:
            raise DataError(f"{archive}: no {split} documents found")
    return tuple(Documents(*splits[split], class_names) for split in ("train", "test"))


def _tar_texts(archive, pattern):
    """Yields `(member name, text)` of the archive's members matching `pattern`, in name order."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = sorted((m for m in tar if m.isfile() and pattern.search(m.name)), key=lambda m: m.name)
            for member in members:
                yield member.name, tar.extractfile(member).read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"{archive}: cannot read archive: {e}") from e


def document_dataset(documents, tokenizer, batch_size, shuffle=False, seed=None, bucket_boundaries=(2, 4, 8, 16)):
    """A tf.data pipeline of `(word_ids [batch, sentences, words], label)` batches.

    Documents are tokenised once by `tokenizer` (a `zoo.text.DocumentTokenizer`)
    and cached; batches are bucketed by sentence count so that short documents
    are not padded to long ones, then prefetched. Documents that are empty or
    white space only are left out.
    """
    keep = [i for i, text in enumerate(documents.texts) if text.strip()]
    texts = tf.constant([documents.texts[i] for i in keep], tf.string)
    labels = tf.constant([documents.labels[i] for i in keep], tf.int32)
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    dataset = dataset.map(lambda text, label: (tokenizer(text[None])[0], label),
                          num_parallel_calls=tf.data.AUTOTUNE).cache()
    if shuffle:
        dataset = dataset.shuffle(len(keep), seed=seed, reshuffle_each_iteration=True)
    boundaries = [b for b in bucket_boundaries if b < tokenizer.max_sentences]
    dataset = dataset.bucket_by_sequence_length(
        lambda ids, label: tf.shape(ids)[0],
        bucket_boundaries=[b + 1 for b in boundaries],
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=([None, None], []),
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
