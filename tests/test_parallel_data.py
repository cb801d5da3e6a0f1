"""Parallel text readers (Multi30k, line-aligned files, Tatoeba, demo) and the translation pipeline."""

import gzip
import zipfile
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import text
from zoo.data import DataError, demo, parallel

WORDS = ["one", "two", "three", "four", "five", "six"]


@pytest.fixture(scope="module")
def tokenizer():
    """BPE learns each of WORDS as one piece ("▁one", ...)."""
    return text.SubwordTokenizer(text.build_subword_model([" ".join(WORDS)] * 50, 300, model_type="bpe"))


def write(path, lines, compress=False):
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    if compress:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def as_tuples(splits):
    return [(split.sources, split.targets, split.skipped) for split in splits]


def multi30k_dir(tmp_path, compress=True):
    for split, n in (("train", 3), ("val", 2), ("test_2016_flickr", 1)):
        write(tmp_path / f"{split}.en", [f"A dog {i} runs." for i in range(n)], compress)
        write(tmp_path / f"{split}.de", [f"Ein Hund {i} läuft." for i in range(n)], compress)
    return str(tmp_path)


@pytest.mark.parametrize("compress", [True, False])
def test_multi30k_gz_or_plain_and_direction(tmp_path, compress):
    folder = multi30k_dir(tmp_path, compress)
    train, valid, test = parallel.read_parallel("multi30k", folder)
    assert train.sources == ["A dog 0 runs.", "A dog 1 runs.", "A dog 2 runs."]
    assert train.targets[2] == "Ein Hund 2 läuft." and len(train) == 3
    assert (len(valid), len(test)) == (2, 1)
    reverse = parallel.read_parallel("multi30k", folder, source_language="de", target_language="en")[0]
    assert (reverse.sources, reverse.targets) == (train.targets, train.sources)


def test_multi30k_missing_file_and_download(tmp_path, monkeypatch):
    folder = multi30k_dir(tmp_path)
    (tmp_path / "val.de.gz").unlink()
    with pytest.raises(DataError, match=r"no val.de.gz \(or val.de\) in .*; pass --download to fetch "
                                        r"https://raw.githubusercontent.com/multi30k/dataset/master/data/"
                                        r"task1/raw/val.de.gz"):
        parallel.read_parallel("multi30k", folder)
    calls = []

    def fake_get_file(name, url, cache_dir, cache_subdir, **kwargs):
        calls.append((name, url, cache_dir, cache_subdir, kwargs.get("extract", False)))
        return str(write(tmp_path / "val.de", ["x", "y"], compress=True))

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    valid = parallel.read_parallel("multi30k", folder, download=True)[1]
    assert valid.targets == ["x", "y"]
    assert calls == [("val.de.gz", parallel._MULTI30K_URL + "val.de.gz", folder, "", False)]

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    (tmp_path / "val.de.gz").unlink()
    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(DataError, match="could not download .*val.de.gz into .*: URL fetch failure"):
        parallel.read_parallel("multi30k", folder, download=True)


def test_files_plain_and_gz_skip_empty_pairs_and_split_only_on_newline(tmp_path):
    write(tmp_path / "train.en", ["Hello .", "", "Line\u2028with separator\r", "  ", "ok"])
    write(tmp_path / "train.fr", ["Bonjour .", "Vide", "Ligne", "x", "  d'accord "], compress=True)
    for split in ("valid", "test"):
        write(tmp_path / f"{split}.en", ["a"])
        write(tmp_path / f"{split}.fr", ["b"])
    train, valid, test = parallel.read_parallel("files", str(tmp_path), "en", "fr")
    assert as_tuples([train]) == [(["Hello .", "Line\u2028with separator", "ok"],
                                   ["Bonjour .", "Ligne", "d'accord"], 2)]
    assert as_tuples([valid, test]) == [(["a"], ["b"], 0)] * 2


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "valid.de").unlink(), r"valid.de: no such file \(nor valid.de.gz\)"),
    (lambda d: write(d / "train.de", ["x", "y"]), r"train.de:2: file ends here but .*train.en has 3 lines"),
    (lambda d: write(d / "test.en", ["x", "y", "z"]), r"test.de:1: file ends here but .*test.en has 3 lines"),
    (lambda d: write(d / "train.en", []), r"train.en: empty file"),
    (lambda d: (write(d / "test.en", [" "]), write(d / "test.de", ["x"])), r"test.en, .*test.de: no pair"),
    (lambda d: (d / "train.en").write_bytes(b"\x1f\x8b not gzip"), None),
])
def test_files_errors_name_the_file(tmp_path, damage, message):
    for split, n in (("train", 3), ("valid", 1), ("test", 1)):
        write(tmp_path / f"{split}.en", ["x"] * n)
        write(tmp_path / f"{split}.de", ["y"] * n)
    damage(tmp_path)
    if message is None:  # a broken .gz
        (tmp_path / "train.en").rename(tmp_path / "train.en.gz")
        message = r"train.en.gz: cannot read"
    with pytest.raises(DataError, match=message):
        parallel.read_parallel("files", str(tmp_path))


def test_unknown_set():
    with pytest.raises(DataError, match="unknown parallel set 'wmt'; known: demo, multi30k, files, tatoeba"):
        parallel.read_parallel("wmt", "x")


TATOEBA = [f"Sentence {i}.\tFrase {i}." for i in range(60)] + ["Sentence 7.\tOtra frase 7.", "Empty.\t "]


def expected_split(english):
    bucket = zlib.crc32(english.encode("utf-8")) % 20
    return 2 if bucket == 0 else 1 if bucket == 1 else 0


def check_tatoeba(splits, lines, english_first=True):
    expected = [([], [], 0) for _ in range(3)]
    for line in lines:
        english, other = line.split("\t")[:2]
        sources, targets, skipped = expected[expected_split(english)]
        if not other.strip():
            expected[expected_split(english)] = (sources, targets, skipped + 1)
            continue
        sources.append(english if english_first else other)
        targets.append(other if english_first else english)
    assert as_tuples(splits) == expected
    assert all(len(split) > 0 for split in splits)


def test_tatoeba_zip_folder_direction_and_hash_split(tmp_path):
    with zipfile.ZipFile(tmp_path / "spa-eng.zip", "w") as archive:
        archive.writestr("spa-eng/_about.txt", "about\n")
        archive.writestr("spa-eng/spa.txt", "".join(line + "\n" for line in TATOEBA))
    splits = parallel.read_parallel("tatoeba", str(tmp_path), "en", "es")
    check_tatoeba(splits, TATOEBA)
    assert len(splits[0]) > 45  # about 90 %
    check_tatoeba(parallel.read_parallel("tatoeba", str(tmp_path), "spa", "en"), TATOEBA, english_first=False)


def test_tatoeba_txt_with_attribution_column(tmp_path):
    lines = [line + "\tCC-BY 2.0 (France) Attribution: tatoeba.org #1 (CK) & #2 (x)" for line in TATOEBA]
    path = write(tmp_path / "deu.txt", lines)
    check_tatoeba(parallel.read_parallel("tatoeba", str(tmp_path), "en", "de"), TATOEBA)
    check_tatoeba(parallel.read_parallel("tatoeba", str(path), "de", "en"), TATOEBA, english_first=False)
    write(path, ["Go.\tGeh.\tCC-BY", "", "Hi.\tHallo."])
    splits = parallel.read_parallel("tatoeba", str(tmp_path), "en", "de")
    assert sum(len(split) for split in splits) == 2 and sum(split.skipped for split in splits) == 1


def test_tatoeba_errors(tmp_path):
    write(tmp_path / "spa.txt", ["Go.\tVe.", "no tab here", "Hi.\tHola."])
    with pytest.raises(DataError, match=r"spa.txt:2: no tab: expected English<TAB>translation"):
        parallel.read_parallel("tatoeba", str(tmp_path), "en", "es")
    with pytest.raises(DataError, match=r"no deu-eng.zip or deu.txt or .* in .*; download deu-eng.zip from "
                                        r"https://www.manythings.org/anki/"):
        parallel.read_parallel("tatoeba", str(tmp_path), "en", "de")
    with pytest.raises(DataError, match=r"source or target must be 'en'"):
        parallel.read_parallel("tatoeba", str(tmp_path), "de", "es")
    (tmp_path / "spa.txt").unlink()
    with pytest.raises(DataError, match=r"no spa-eng.zip or .*; pass --download to fetch "
                                        r"https://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"):
        parallel.read_parallel("tatoeba", str(tmp_path), "es", "en")
    write(tmp_path / "fra.txt", [])
    with pytest.raises(DataError, match=r"fra.txt: empty file"):
        parallel.read_parallel("tatoeba", str(tmp_path), "en", "fr")
    with zipfile.ZipFile(tmp_path / "ita-eng.zip", "w") as archive:
        archive.writestr("_about.txt", "about\n")
    with pytest.raises(DataError, match=r"ita-eng.zip: expected one <lang>.txt in the zip"):
        parallel.read_parallel("tatoeba", str(tmp_path), "en", "it")


def test_demo_is_deterministic_and_follows_its_rule(tmp_path):
    train, valid, test = parallel.read_parallel("demo", str(tmp_path / "a"))
    assert (len(train), len(valid), len(test)) == (12000, 300, 300)
    again = parallel.read_parallel("demo", str(tmp_path / "b"), source_language="xx")
    assert as_tuples(again) == as_tuples((train, valid, test))
    lexicon = demo.demo_lexicon()
    assert len(lexicon) == len(set(lexicon.values())) == 20 and not set(lexicon) & set(lexicon.values())
    for split in (train, valid, test):
        for source, target in zip(split.sources, split.targets):
            words = source.split()
            assert 3 <= len(words) <= 8
            assert target.split() == [lexicon[w] for w in reversed(words)]
    all_sources = train.sources + valid.sources + test.sources
    assert len(set(all_sources)) == len(all_sources)


def dataset_rows(dataset):
    """`(source, decoder input, decoder target)` id lists without padding, example by example."""
    return [tuple(row[row > 0].tolist() for row in rows) for (sources, inputs), targets in dataset
            for rows in zip(sources.numpy(), inputs.numpy(), targets.numpy())]


def test_translation_dataset_start_end_truncation_and_padding(tokenizer):
    ONE, TWO, THREE, FOUR, FIVE, SIX = (tokenizer.vocabulary.index("▁" + word) for word in WORDS)
    pairs = parallel.ParallelText(
        ["one two three", "four", "one two three four five six one two", "  "],
        ["five six", "one two three four five six one two three", "two", "one"])
    dataset = parallel.translation_dataset(pairs, tokenizer, batch_size=8, max_length=6)
    spec = dataset.element_spec
    assert [s.shape.as_list() for s in (spec[0][0], spec[0][1], spec[1])] == [[None, None]] * 3
    assert all(s.dtype == tf.int32 for s in (spec[0][0], spec[0][1], spec[1]))
    batches = list(dataset)
    assert len(batches) == 1  # the pair whose source has no piece is left out
    (source_ids, decoder_inputs), decoder_targets = batches[0]
    np.testing.assert_array_equal(source_ids, [[ONE, TWO, THREE, 0, 0, 0], [FOUR, 0, 0, 0, 0, 0],
                                               [ONE, TWO, THREE, FOUR, FIVE, SIX]])
    np.testing.assert_array_equal(decoder_inputs, [[2, FIVE, SIX, 0, 0, 0], [2, ONE, TWO, THREE, FOUR, FIVE],
                                                   [2, TWO, 0, 0, 0, 0]])
    np.testing.assert_array_equal(decoder_targets, [[FIVE, SIX, 3, 0, 0, 0], [ONE, TWO, THREE, FOUR, FIVE, 3],
                                                    [TWO, 3, 0, 0, 0, 0]])


def test_translation_dataset_buckets_by_length_and_shuffles_by_seed(tokenizer):
    rng = np.random.default_rng(0)
    sources = [" ".join(rng.choice(WORDS, n)) for n in rng.integers(1, 21, 60)]
    targets = [" ".join(rng.choice(WORDS, n)) for n in rng.integers(1, 21, 60)]
    pairs = parallel.ParallelText(sources, targets)
    dataset = parallel.translation_dataset(pairs, tokenizer, batch_size=4, max_length=24, shuffle=True, seed=1)
    first = list(dataset)
    for (source_ids, decoder_inputs), decoder_targets in first:
        assert source_ids.shape[0] <= 4 and decoder_inputs.shape == decoder_targets.shape
        lengths = np.maximum((source_ids.numpy() > 0).sum(1), (decoder_targets.numpy() > 0).sum(1))
        assert len({int(n) // 8 for n in lengths}) == 1, lengths  # buckets [1, 8), [8, 16), [16, 24]
        assert max(source_ids.shape[1], decoder_targets.shape[1]) == lengths.max()  # padded to the batch's longest
    rows = dataset_rows(first)
    expected = [(s[:24], [2] + t[:23], t[:23] + [3]) for s, t in zip(tokenizer(tf.constant(sources)).to_list(),
                                                                    tokenizer(tf.constant(targets)).to_list())]
    assert sorted(rows) == sorted(expected)
    second = dataset_rows(dataset)
    assert second != rows and sorted(second) == sorted(rows)  # reshuffled each iteration
    again = parallel.translation_dataset(pairs, tokenizer, batch_size=4, max_length=24, shuffle=True, seed=1)
    assert dataset_rows(again) == rows


def test_translation_dataset_rejects_short_max_length(tokenizer):
    with pytest.raises(ValueError, match="max_length must be at least 2"):
        parallel.translation_dataset(parallel.ParallelText(["a"], ["b"]), tokenizer, 4, 1)
