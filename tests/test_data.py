import csv
import io
import tarfile

import numpy as np
import pytest

from zoo import data, text
from zoo.data import demo


def write(path, content):
    path.write_text(content, encoding="utf-8")
    return path


def zhang_dir(tmp_path, train, test='"1","t","x"\n', classes=None):
    write(tmp_path / "train.csv", train)
    write(tmp_path / "test.csv", test)
    if classes:
        write(tmp_path / "classes.txt", classes)
    return str(tmp_path)


def test_zhang_csv_fields_escapes_and_class_names(tmp_path):
    folder = zhang_dir(tmp_path, '"2","A title","Line one.\\nLine ""two"", ok"\n"1","","only body"\n',
                       classes="neg\npos\n")
    train, test = data.load_documents("zhang_csv", folder)
    assert train.texts == ['A title\nLine one.\nLine "two", ok', "\nonly body"]
    assert train.labels == [1, 0]
    assert train.class_names == ["neg", "pos"] and len(test) == 1


def test_zhang_csv_without_classes_file_names_classes_by_number(tmp_path):
    train, _ = data.load_documents("zhang_csv", zhang_dir(tmp_path, '"3","x"\n"1","y"\n'))
    assert train.class_names == ["1", "2", "3"]


@pytest.mark.parametrize("train, where", [
    ('"1","ok"\n"x","bad label"\n', "train.csv:2: malformed row: class must be a number"),
    ('"1","ok"\n"1","ok"\n"2"\n', "train.csv:3: malformed row"),
    ('"1","ok"\n"0","zero"\n', "train.csv:2: malformed row"),
    ('"1","unterminated\n', "train.csv:"),
    ('', "train.csv: no rows"),
])
def test_malformed_csv_names_file_and_line(tmp_path, train, where):
    with pytest.raises(data.DataError, match=where):
        data.load_documents("zhang_csv", zhang_dir(tmp_path, train))


def test_class_beyond_classes_file_is_an_error(tmp_path):
    with pytest.raises(data.DataError, match="class 3 but only 2 classes"):
        data.load_documents("zhang_csv", zhang_dir(tmp_path, '"3","x"\n', classes="a\nb\n"))


def test_missing_files_are_named(tmp_path):
    with pytest.raises(data.DataError, match="train.csv: no such file"):
        data.load_documents("zhang_csv", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataError, match="review_polarity.tar.gz.*--download"):
        data.load_documents("movie_review_polarity", str(tmp_path))
    with pytest.raises(data.DataError, match="yelp_review_full_csv/train.csv.*--download"):
        data.load_documents("yelp_review_full", str(tmp_path))
    with pytest.raises(data.DataError, match="unknown data set"):
        data.load_documents("mnist", str(tmp_path))


def make_tar(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, content in files.items():
            payload = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_movie_review_polarity_folds(tmp_path):
    make_tar(tmp_path / "review_polarity.tar.gz", {
        "poldata.README.2.0": "readme",
        "txt_sentoken/pos/cv000_1.txt": "good .\nfine .\n",
        "txt_sentoken/neg/cv899_2.txt": "bad .\n",
        "txt_sentoken/neg/cv900_3.txt": "awful .\n",
    })
    train, test = data.load_documents("movie_review_polarity", str(tmp_path))
    assert sorted(zip(train.texts, train.labels)) == [("bad .\n", 0), ("good .\nfine .\n", 1)]
    assert (test.texts, test.labels, test.class_names) == (["awful .\n"], [0], ["neg", "pos"])


def test_imdb_layout(tmp_path):
    make_tar(tmp_path / "aclImdb_v1.tar.gz", {
        "aclImdb/README": "x",
        "aclImdb/train/pos/0_9.txt": "Great.<br /><br />Loved it.",
        "aclImdb/train/unsup/0_0.txt": "unlabelled",
        "aclImdb/test/neg/1_2.txt": "Dull.",
    })
    train, test = data.load_documents("imdb", str(tmp_path))
    assert (train.texts, train.labels) == (["Great.<br /><br />Loved it."], [1])
    assert (test.texts, test.labels) == (["Dull."], [0])


def test_imdb_ratings_take_the_stars_from_the_file_names(tmp_path):
    make_tar(tmp_path / "aclImdb_v1.tar.gz", {
        "aclImdb/train/pos/0_9.txt": "Great.", "aclImdb/train/pos/1_7.txt": "Good.",
        "aclImdb/train/neg/2_1.txt": "Awful.", "aclImdb/train/unsup/3_0.txt": "unlabelled",
        "aclImdb/test/neg/4_4.txt": "Dull.", "aclImdb/test/pos/5_10.txt": "Perfect.",
    })
    train, test = data.load_documents("imdb_ratings", str(tmp_path))
    assert train.class_names == ["1", "2", "3", "4", "7", "8", "9", "10"]
    assert sorted(zip(train.texts, (train.class_names[i] for i in train.labels))) == [
        ("Awful.", "1"), ("Good.", "7"), ("Great.", "9")]
    assert [(t, test.class_names[i]) for t, i in zip(test.texts, test.labels)] == [("Dull.", "4"), ("Perfect.", "10")]


def test_a_rating_outside_the_published_ones_is_named(tmp_path):
    make_tar(tmp_path / "aclImdb_v1.tar.gz", {"aclImdb/train/pos/0_5.txt": "Meh.", "aclImdb/test/neg/1_2.txt": "Dull."})
    with pytest.raises(data.DataError, match=r"0_5.txt: class '5' is none of"):
        data.load_documents("imdb_ratings", str(tmp_path))


def test_corrupt_archive_is_named(tmp_path):
    write(tmp_path / "review_polarity.tar.gz", "not a tarball")
    with pytest.raises(data.DataError, match="review_polarity.tar.gz: cannot read archive"):
        data.load_documents("movie_review_polarity", str(tmp_path))


def test_demo_set_is_deterministic_and_carries_a_cue(tmp_path):
    assert demo.generate(50, 7) == demo.generate(50, 7)
    assert demo.generate(50, 7) != demo.generate(50, 8)
    for label, _, body in demo.generate(50, 7):
        cues = [w for w in text.split_documents([body]).flat_values.numpy().astype(str)
                if any(w in c for c in demo.CUE_WORDS)]
        assert len(cues) == 1 and cues[0] in demo.CUE_WORDS[label]
    train, test = data.load_documents("demo", str(tmp_path))
    assert (len(train), len(test), train.class_names) == (600, 200, list(demo.CLASS_NAMES))
    with open(tmp_path / "train.csv", newline="") as f:
        assert len(next(csv.reader(f))) == 3  # "class","title","text"


def test_pipeline_batches_buckets_and_skips_empty_documents():
    documents = data.Documents(
        texts=["a. b. c. d. e.", "a", "   ", "a. b.", "x"] * 4, labels=[0, 1, 0, 1, 0] * 4, class_names=["p", "q"])
    tokenizer = text.DocumentTokenizer(["[PAD]", "[UNK]", "a", "b", "."], max_sentences=4, max_words=3)
    batches = list(data.document_dataset(documents, tokenizer, batch_size=4, bucket_boundaries=(2,)))
    assert sum(len(labels) for _, labels in batches) == 16  # the 4 blank documents are left out
    for ids, labels in batches:
        sentence_counts = (ids.numpy() > 0).any(-1).sum(-1)
        assert ids.shape[1] <= 4 and ids.shape[2] <= 3
        # Bucketing: documents of ≤ 2 sentences are never batched with longer ones.
        assert sentence_counts.max() <= 2 or sentence_counts.min() > 2
    assert np.unique(np.concatenate([labels.numpy() for _, labels in batches])).tolist() == [0, 1]


def test_download_fetches_and_unpacks_a_zhang_set(tmp_path, monkeypatch):
    # A file:// URL goes through keras.utils.get_file's real download and extraction, offline.
    make_tar(tmp_path / "yelp_review_polarity_csv.tgz", {
        "yelp_review_polarity_csv/train.csv": '"1","bad."\n"2","good."\n',
        "yelp_review_polarity_csv/test.csv": '"2","fine."\n',
    })
    monkeypatch.setattr(data.documents, "_ZHANG_URL", f"file://{tmp_path}/{{name}}_csv.tgz")
    data_dir = tmp_path / "data"
    train, test = data.load_documents("yelp_review_polarity", str(data_dir), download=True)
    assert (train.texts, train.labels, test.labels) == (["bad.", "good."], [0, 1], [1])
    # The second run finds the unpacked files and downloads nothing.
    monkeypatch.setattr(data.documents, "_ZHANG_URL", "file:///nowhere/{name}.tgz")
    assert data.load_documents("yelp_review_polarity", str(data_dir), download=True)[0].texts == train.texts


def test_failed_download_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(data.documents._ARCHIVES, "imdb", ("aclImdb_v1.tar.gz", f"file://{tmp_path}/none.tar.gz"))
    with pytest.raises(data.DataError, match="could not download file://.*none.tar.gz into"):
        data.load_documents("imdb", str(tmp_path / "data"), download=True)


def test_archive_without_a_test_split_is_named(tmp_path):
    make_tar(tmp_path / "review_polarity.tar.gz", {"txt_sentoken/pos/cv000_1.txt": "good ."})
    with pytest.raises(data.DataError, match="review_polarity.tar.gz: no test documents found"):
        data.load_documents("movie_review_polarity", str(tmp_path))
