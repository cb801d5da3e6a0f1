"""The wordpiece vocabulary and `SubwordTokenizer` of the translation models."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import run_python
from zoo import text

# Every word at least 10 times, the learner's floor for a piece of its own.
CORPUS = ["the cat sat on the mat .", "a dog ran to the cat !", "Das ist gut ."] * 10

LOAD_WITHOUT_ZOO = r"""
import json, sys
import tensorflow as tf
import tensorflow_text
module = tf.saved_model.load(sys.argv[1])
ids = module.tokenize(tf.constant(json.loads(sys.argv[2])))
print(json.dumps({"leaked": sorted(m for m in sys.modules if m.split(".")[0] == "zoo"),
                  "ids": ids.numpy().tolist(), "text": [t.decode() for t in module.detokenize(ids).numpy()]}))
"""


@pytest.fixture(scope="module")
def vocabulary():
    return text.build_subword_vocabulary(CORPUS, 200)


@pytest.fixture(scope="module")
def tokenizer(vocabulary):
    return text.SubwordTokenizer(vocabulary)


def ids_of(tokenizer, words):
    return [tokenizer.vocabulary.index(w) for w in words]


def test_vocabulary_reserved_tokens_words_and_determinism(vocabulary):
    assert vocabulary[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    assert {"the", "cat", "mat", "dog", "Das", ".", "!", "##t"} <= set(vocabulary)
    assert len(set(vocabulary)) == len(vocabulary) <= 200
    assert text.build_subword_vocabulary(CORPUS, 200) == vocabulary


def test_vocabulary_lower_case_and_bad_arguments():
    vocabulary = text.build_subword_vocabulary(CORPUS, 200, lower_case=True)
    assert "das" in vocabulary and "Das" not in vocabulary and "D" not in vocabulary
    with pytest.raises(ValueError, match="more than the 4 reserved"):
        text.build_subword_vocabulary(CORPUS, 4)
    with pytest.raises(ValueError, match="no text"):
        text.build_subword_vocabulary(["", " "], 100)


def test_ids_properties_and_round_trip(tokenizer):
    assert (tokenizer.start_id, tokenizer.end_id, tokenizer.vocabulary_size) == (2, 3, len(tokenizer.vocabulary))
    ids = tokenizer(tf.constant(["the cat sat on the mat.", "a dog", ""]))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.to_list() == [ids_of(tokenizer, ["the", "cat", "sat", "on", "the", "mat", "."]),
                             ids_of(tokenizer, ["a", "dog"]), []]
    assert [t.decode() for t in tokenizer.detokenize(ids).numpy()] == ["the cat sat on the mat .", "a dog", ""]
    assert tokenizer(["a dog"]).to_list() == [ids_of(tokenizer, ["a", "dog"])]  # a list of str is text too


def test_unseen_words_split_into_pieces_and_unknown_characters_become_unk(tokenizer):
    ids = tokenizer(tf.constant(["cats", "☃ zebra", "the\u00a0cat"])).to_list()
    assert ids[0] == ids_of(tokenizer, ["cat", "##s"])
    assert ids[1] == [1, 1]  # z and b are not in the vocabulary: the whole word is [UNK]
    assert ids[2] == ids_of(tokenizer, ["the", "cat"])
    assert tokenizer.detokenize(tf.constant([ids[0] + [0]])).numpy().tolist() == [b"cats"]


def test_invalid_utf8_becomes_replacement_character(tokenizer):
    ids = tokenizer(tf.constant([b"the \xff\xfe cat", b"\xc3"])).to_list()
    assert ids == [ids_of(tokenizer, ["the"]) + [1] + ids_of(tokenizer, ["cat"]), [1]]  # U+FFFD is not a piece
    # Learned from (and then tokenized as) U+FFFD, the same in vocabulary and tokenizer.
    vocabulary = text.build_subword_vocabulary([b"ok \xff"] * 10, 50)
    assert "\ufffd" in vocabulary
    tokenizer = text.SubwordTokenizer(vocabulary)
    assert tokenizer(tf.constant([b"ok\xff \xc3"])).to_list() == [ids_of(tokenizer, ["ok", "##\ufffd", "\ufffd"])]


def test_lower_case_tokenizer():
    tokenizer = text.SubwordTokenizer(text.build_subword_vocabulary(CORPUS, 200, lower_case=True), lower_case=True)
    assert tokenizer.detokenize(tokenizer(tf.constant(["THE Cat! DAS"]))).numpy().tolist() == [b"the cat ! das"]


def test_detokenize_stops_at_end_and_drops_pad_and_start(tokenizer):
    the, cat, dog = ids_of(tokenizer, ["the", "cat", "dog"])
    ids = [[2, the, 0, cat, 3, dog, 3], [the, dog, dog, 0, 0, 0, 0], [3, the, 0, 0, 0, 0, 0]]
    expected = [b"the cat", b"the dog dog", b""]
    assert tokenizer.detokenize(tf.constant(ids)).numpy().tolist() == expected
    assert tokenizer.detokenize(tf.constant(ids, tf.int64)).numpy().tolist() == expected
    ragged = tf.ragged.constant([[2, the, cat, 3, dog], [dog]], tf.int32)
    assert tokenizer.detokenize(ragged).numpy().tolist() == [b"the cat", b"dog"]
    assert tokenizer.detokenize(tf.zeros([0, 5], tf.int32)).shape == (0,)


def test_bad_input(tokenizer, vocabulary):
    with pytest.raises(TypeError, match="takes tf.string text, got int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="list of str or bytes"):
        tokenizer(["a", 1])
    with pytest.raises(ValueError, match=r"shape \[batch\]"):
        tokenizer(tf.constant([["a"]]))
    with pytest.raises(ValueError, match="must start with"):
        text.SubwordTokenizer(["[PAD]", "[UNK]", "a"])
    with pytest.raises(ValueError, match="duplicate"):
        text.SubwordTokenizer(vocabulary + ["the"])


def test_config_round_trip(tokenizer):
    config = keras.saving.serialize_keras_object(text.SubwordTokenizer(tokenizer.vocabulary, lower_case=True))
    clone = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert isinstance(clone, text.SubwordTokenizer)
    assert (clone.vocabulary, clone.lower_case) == (tokenizer.vocabulary, True)


def test_saved_model_loads_with_tensorflow_text_only(tokenizer, tmp_path):
    module = tf.Module()
    module.tokenizer = tokenizer
    module.tokenize = tf.function(lambda text: tokenizer(text).to_tensor(),
                                  input_signature=[tf.TensorSpec([None], tf.string)])
    module.detokenize = tf.function(tokenizer.detokenize, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "tokenizer"))
    sentences = ["the cat sat on the mat .", "a dog", "cats ☃"]
    result = run_python(["-c", LOAD_WITHOUT_ZOO, str(tmp_path / "tokenizer"), json.dumps(sentences)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == []
    np.testing.assert_array_equal(out["ids"], tokenizer(tf.constant(sentences)).to_tensor().numpy())
    assert out["text"] == ["the cat sat on the mat .", "a dog", "cats [UNK]"]
