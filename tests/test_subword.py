"""The SentencePiece model and `SubwordTokenizer` of the translation models."""

import io
import json

import keras
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from conftest import run_python, tflite_interpreter
from zoo import text

CORPUS = ["the cat sat on the mat.", "a dog ran to the cat!", "Das ist gut."] * 10
SIZE = 300

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
def model_proto():
    return text.build_subword_model(CORPUS, SIZE)


@pytest.fixture(scope="module")
def tokenizer(model_proto):
    return text.SubwordTokenizer(model_proto)


def test_model_reserved_ids_byte_pieces_and_determinism(model_proto, tokenizer):
    vocabulary = tokenizer.vocabulary
    assert vocabulary[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    assert vocabulary[4:260] == [f"<0x{b:02X}>" for b in range(256)]
    assert {"▁cat", "at", "D", ".", "!"} <= set(vocabulary)
    assert len(set(vocabulary)) == len(vocabulary) <= SIZE
    assert text.build_subword_model(CORPUS, SIZE) == model_proto
    bpe = text.SubwordTokenizer(text.build_subword_model(CORPUS, SIZE, model_type="bpe"))
    assert bpe.vocabulary[:260] == vocabulary[:260] and bpe.vocabulary != vocabulary
    assert tokenizer.unigram and not bpe.unigram
    # The TFLite tokenizer segments every model as unigram: a BPE model is refused on the device.
    with pytest.raises(ValueError, match="needs a unigram SentencePiece model"):
        bpe.tokenize_on_device(tf.constant(["the cat"]))


def test_model_bad_arguments():
    with pytest.raises(ValueError, match="more than the 4 reserved and 256 byte pieces"):
        text.build_subword_model(CORPUS, 260)
    with pytest.raises(ValueError, match="no text"):
        text.build_subword_model(["", " "], SIZE)
    with pytest.raises(ValueError, match="model_type"):
        text.build_subword_model(CORPUS, SIZE, model_type="word")


def test_ids_match_sentencepiece_and_text_round_trips_exactly(tokenizer, model_proto):
    processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
    sentences = ["the cat sat on the mat.", "a dog", "", "Zebras jump ☃ «über» 😀."]
    ids = tokenizer(tf.constant(sentences))
    assert isinstance(ids, tf.RaggedTensor) and ids.dtype == tf.int32
    assert ids.to_list() == [processor.encode(s) for s in sentences]
    assert [t.decode() for t in tokenizer.detokenize(ids).numpy()] == sentences
    assert (tokenizer.start_id, tokenizer.end_id, tokenizer.vocabulary_size) == (2, 3, len(tokenizer.vocabulary))
    assert tokenizer(["a dog"]).to_list() == ids[1:2].to_list()  # a list of str is text too
    # Unseen characters are their UTF-8 bytes, never [UNK].
    snowman = tokenizer(["☃"]).to_list()[0]
    assert tokenizer.unk_id not in snowman and [tokenizer.vocabulary[i] for i in snowman[-3:]] == [
        "<0xE2>", "<0x98>", "<0x83>"]


def test_nmt_nfkc_normalisation_and_invalid_utf8(tokenizer):
    def round_trip(sentences):
        return [t.decode() for t in tokenizer.detokenize(tokenizer(tf.constant(sentences))).numpy()]

    assert round_trip(["  the   cat\tsat\n", "ﬁne Ｆｕｌｌ", "the\u00a0cat"]) == ["the cat sat", "fine Full", "the cat"]
    # Invalid UTF-8 → U+FFFD, which nmt_nfkc turns into a space; control characters become spaces first
    # (nmt_nfkc alone would remove them and join the words around them), a NUL too.
    assert round_trip([b"the \xff\xfe cat", b"\xc3", "a\x07b", "hello\x00world\x00"]) == [
        "the cat", "", "a b", "hello world"]


def test_pieces(tokenizer):
    ids = tokenizer(["the cat", "☃"])
    assert tokenizer.pieces(ids).to_list() == [[b"\xe2\x96\x81t", b"h", b"e", b"\xe2\x96\x81cat"],
                                                [b"\xe2\x96\x81", b"<0xE2>", b"<0x98>", b"<0x83>"]]


def test_detokenize_stops_at_end_and_drops_pad_and_start(tokenizer):
    cat, dot, bang = (tokenizer.vocabulary.index(piece) for piece in ("▁cat", ".", "!"))
    ids = [[2, cat, 0, dot, 3, bang, 3], [cat, bang, bang, 0, 0, 0, 0], [3, cat, 0, 0, 0, 0, 0]]
    expected = [b"cat.", b"cat!!", b""]
    assert tokenizer.detokenize(tf.constant(ids)).numpy().tolist() == expected
    assert tokenizer.detokenize(tf.constant(ids, tf.int64)).numpy().tolist() == expected
    ragged = tf.ragged.constant([[2, cat, dot, 3, bang], [bang]], tf.int32)
    assert tokenizer.detokenize(ragged).numpy().tolist() == [b"cat.", b"!"]
    assert tokenizer.detokenize(tf.zeros([0, 5], tf.int32)).shape == (0,)


def test_device_graph_round_trips_text_in_litert_and_shows_unseen_characters_as_unknown(tokenizer):
    @tf.function(input_signature=[tf.TensorSpec([1], tf.string, name="text")])
    def round_trip(sentence):
        ids = tokenizer.tokenize_on_device(sentence)
        # As a decoder writes them: [START], the pieces, [END], then padding and whatever followed.
        ids = tf.concat([[tokenizer.start_id], ids, [tokenizer.end_id, 0, 7]], axis=0)
        return {"text": tokenizer.detokenize_on_device(ids), "ids": ids}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([round_trip.get_concrete_function()], tokenizer)
    converter.allow_custom_ops = True
    runner = tflite_interpreter(converter.convert()).get_signature_runner()
    for sentence, expected in [("the cat sat on the mat.", "the cat sat on the mat."), ("Das ist gut!", "Das ist gut!"),
                               ("a ☃ cat", "a  ⁇  cat")]:
        out = runner(text=np.array([sentence.encode()], object))
        assert out["text"].tolist() == [expected.encode()]
        if "☃" in sentence:  # no byte fallback on the device
            assert tokenizer.unk_id in out["ids"]
        else:
            np.testing.assert_array_equal(out["ids"][1:-3], tokenizer([sentence]).to_list()[0])


def test_bad_input(tokenizer):
    with pytest.raises(TypeError, match="takes tf.string text, got int32"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="list of str or bytes"):
        tokenizer(["a", 1])
    with pytest.raises(ValueError, match=r"shape \[batch\]"):
        tokenizer(tf.constant([["a"]]))
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        text.SubwordTokenizer(b"not a model")
    plain = io.BytesIO()  # SentencePiece's defaults: <unk>, <s>, </s> at ids 0-2, no padding
    sentencepiece.SentencePieceTrainer.train(sentence_iterator=iter(CORPUS), model_writer=plain, vocab_size=24,
                                             minloglevel=2)
    with pytest.raises(ValueError, match=r"ids 0-3 must be"):
        text.SubwordTokenizer(plain.getvalue())


def test_config_save_and_load_round_trip(tokenizer, tmp_path):
    config = keras.saving.serialize_keras_object(tokenizer)
    clone = keras.saving.deserialize_keras_object(json.loads(json.dumps(config)))
    assert isinstance(clone, text.SubwordTokenizer)
    assert (clone.model_proto, clone.vocabulary) == (tokenizer.model_proto, tokenizer.vocabulary)
    tokenizer.save(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sentencepiece.model", "vocab.txt"]
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines() == tokenizer.vocabulary
    assert text.SubwordTokenizer.load(str(tmp_path)).model_proto == tokenizer.model_proto


def test_saved_model_loads_with_tensorflow_text_only(tokenizer, tmp_path):
    module = tf.Module()
    module.tokenizer = tokenizer
    module.tokenize = tf.function(lambda text: tokenizer(text).to_tensor(),
                                  input_signature=[tf.TensorSpec([None], tf.string)])
    module.detokenize = tf.function(tokenizer.detokenize, input_signature=[tf.TensorSpec([None, None], tf.int32)])
    tf.saved_model.save(module, str(tmp_path / "tokenizer"))
    sentences = ["the cat sat on the mat.", "a dog", "cats ☃"]
    result = run_python(["-c", LOAD_WITHOUT_ZOO, str(tmp_path / "tokenizer"), json.dumps(sentences)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["leaked"] == []
    np.testing.assert_array_equal(out["ids"], tokenizer(tf.constant(sentences)).to_tensor().numpy())
    assert out["text"] == sentences
