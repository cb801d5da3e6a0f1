import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo import text

VOCAB = ["[PAD]", "[UNK]", ".", "the", "film", "was", "great", "!", "bad", "café"]


def words(documents):
    return [[[w.decode() for w in s] for s in doc] for doc in text.split_documents(tf.constant(documents)).to_list()]


def test_sentences_and_words():
    assert words(["The film was GREAT! It was bad... Really?\nNext line<br /><br />end"]) == [[
        ["the", "film", "was", "great", "!"], ["it", "was", "bad", ".", ".", "."], ["really", "?"],
        ["next", "line"], ["end"],
    ]]


def test_unicode_lowercase_symbols_and_spaces():
    assert words(["CAFÉ\u00a0Naïve—x, 3.5"]) == [[["café", "naïve", "—", "x", ",", "3", ".", "5"]]]


def test_empty_and_whitespace_documents_have_no_sentence():
    assert words(["", "  \n\t ", "<br />"]) == [[], [], []]


def test_invalid_utf8_becomes_replacement_character():
    # U+FFFD is a symbol, so each bad byte is a word of its own (and [UNK] later).
    assert words([b"ok \xff\xfe go"]) == [[["ok", "\ufffd", "\ufffd", "go"]]]


def test_control_characters_are_spaces_and_a_nul_loses_nothing():
    assert words(["hello\x00 world", "\x00\x01\x02 hello \x7f\x1b[31m world\x00", "a\x00b\x85c"]) == [
        [["hello", "world"]], [["hello", "[", "31m", "world"]], [["a", "b", "c"]]]


# Words of letters and digits (any script), joined by any mix of spaces and control characters.
WORD = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)
SEPARATOR = st.text(st.characters(categories=["Cc", "Zs"], exclude_characters="\n\r"), min_size=1, max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(WORD, SEPARATOR), min_size=1, max_size=12))
def test_every_word_between_control_characters_is_a_token(parts):
    document = "".join(word + separator for word, separator in parts)
    tokens = [w for sentence in words([document])[0] for w in sentence]
    # Lower-casing may change a word's length (İ → i̇): compare with the same op's result.
    expected = [w.decode() for w in tf.strings.lower([word for word, _ in parts], encoding="utf-8").numpy()]
    assert tokens == expected


def test_characters_read_control_characters_as_spaces():
    tokenizer = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b"])
    assert tokenizer(["a\x00b\x1bb"]).numpy().tolist() == [[3, 2, 4, 2, 4]]


def test_build_vocabulary_orders_by_count_then_alphabet_and_caps():
    docs = ["b a. a c", "c a b", "d"]
    assert text.build_vocabulary(docs, 100) == ["[PAD]", "[UNK]", "a", "b", "c", ".", "d"]
    assert text.build_vocabulary(docs, 4) == ["[PAD]", "[UNK]", "a", "b"]
    with pytest.raises(ValueError, match="at least 3"):
        text.build_vocabulary(docs, 2)


@pytest.mark.parametrize("make, file", [
    (lambda: text.DocumentTokenizer(VOCAB, max_sentences=5, max_words=10), "vocab.txt"),
    # "\n", "\r" and U+2028 are characters of a corpus too: the file must not split on them.
    (lambda: text.CharacterTokenizer(["[PAD]", "[UNK]", "\n", "\r", "\u2028", " ", "é", "\""]), "characters.json"),
    (lambda: text.SubwordTokenizer(text.build_subword_model(["a bü"] * 3, 300)), "sentencepiece.model"),
], ids=["documents", "characters", "subwords"])
def test_tokenizer_save_and_load_round_trip(tmp_path, make, file):
    tokenizer = make()
    options = {k: v for k, v in tokenizer.get_config().items() if k in ("max_sentences", "max_words")}
    tokenizer.save(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted(tokenizer.assets())
    assert file in tokenizer.assets()
    loaded = type(tokenizer).load(str(tmp_path), **options)
    assert loaded.vocabulary == tokenizer.vocabulary
    assert loaded.get_config() == {**tokenizer.get_config(), "name": loaded.name}


def test_character_encode_is_the_tokenizer_in_chunks():
    tokenizer = text.CharacterTokenizer(["[PAD]", "[UNK]", " ", "a", "b", "é"])
    corpus = "ab é\nzä ba" * 7
    ids = tokenizer.encode(corpus, chunk_characters=5)
    assert ids.dtype == np.int32 and len(ids) == len(corpus)
    np.testing.assert_array_equal(ids, tokenizer(tf.constant([corpus])).numpy()[0])
    assert tokenizer.detokenize(ids[None]).numpy()[0].decode() == corpus.replace("\n", "\ufffd").replace(
        "z", "\ufffd").replace("ä", "\ufffd")


def test_ids_unknown_words_and_padding():
    tokenizer = text.DocumentTokenizer(VOCAB, max_sentences=5, max_words=10)
    ids = tokenizer(tf.constant(["The film was great! Zebra.", "Bad"])).numpy()
    np.testing.assert_array_equal(ids, [
        [[3, 4, 5, 6, 7], [1, 2, 0, 0, 0]],
        [[8, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    ])
    assert ids.dtype == np.int32


def test_truncation_to_max_sentences_and_words():
    tokenizer = text.DocumentTokenizer(VOCAB, max_sentences=2, max_words=3)
    ids = tokenizer(tf.constant(["the film was great. bad. bad. bad."])).numpy()
    np.testing.assert_array_equal(ids, [[[3, 4, 5], [8, 2, 0]]])


def test_pad_to_max_gives_a_static_shape():
    tokenizer = text.DocumentTokenizer(VOCAB, max_sentences=4, max_words=6, pad_to_max=True)
    assert tokenizer(tf.constant(["the film"])).shape == (1, 4, 6)


def test_empty_batch_and_empty_documents_keep_a_time_axis():
    tokenizer = text.DocumentTokenizer(VOCAB)
    assert tokenizer(tf.constant([], tf.string)).shape == (0, 1, 1)
    np.testing.assert_array_equal(tokenizer(tf.constant(["", " "])).numpy(), np.zeros((2, 1, 1)))


def test_one_megabyte_document_is_truncated():
    tokenizer = text.DocumentTokenizer(VOCAB, max_sentences=30, max_words=50)
    ids = tokenizer(tf.constant(["the film was great. " * 52429])).numpy()  # 1 MiB
    assert ids.shape == (1, 30, 5)
    np.testing.assert_array_equal(ids[0, -1], [3, 4, 5, 6, 2])


def test_wrong_dtype_and_rank_are_clear_errors():
    tokenizer = text.DocumentTokenizer(VOCAB)
    with pytest.raises(TypeError, match="tf.string documents, got int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match=r"shape \[batch\]"):
        tokenizer(tf.constant([["a"]]))


@pytest.mark.parametrize("vocabulary, message", [
    (["[UNK]", "[PAD]", "a"], "must start with"),
    (["[PAD]", "[UNK]", "a", "a"], "duplicate"),
])
def test_bad_vocabulary_is_refused(vocabulary, message):
    with pytest.raises(ValueError, match=message):
        text.DocumentTokenizer(vocabulary)


def test_config_round_trip():
    tokenizer = text.DocumentTokenizer(VOCAB, max_sentences=3, max_words=4)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    assert restored.get_config() == tokenizer.get_config()
    docs = tf.constant(["the film. was great"])
    np.testing.assert_array_equal(restored(docs).numpy(), tokenizer(docs).numpy())
