"""Every exported signature × one list of bad inputs (README "Bad input").

Each cell gets its documented result or a clear error, and the loaded model
answers a good request right after. Cells where a signature has no such input
(a text case for the handwriting sampler, a length for the HAN) are listed in
NOT_APPLICABLE, so the matrix stays complete. The translators (Sutskever, Cho
and GNMT share `zoo.export.translation_functions`) are represented by GNMT.
"""

import numpy as np
import pytest
import tensorflow as tf

from test_tasks import TINY_MAX_SENTENCES, exports  # noqa: F401 (the fixture: a tiny export of each family)

ONE_MEGABYTE = "It was superb. " * 69906
BAD_INPUTS = ("empty", "whitespace", "non_utf8", "one_megabyte", "batch_of_0", "wrong_dtype", "wrong_rank",
              "huge_length")


@pytest.fixture(scope="module")
def signatures(exports):
    paths = {"han": exports["han"][0], "graves_text": exports["graves_text"][0],
             "graves_handwriting": exports["graves_handwriting"][0]}
    loaded = {name: tf.saved_model.load(path).signatures["serving_default"] for name, path in paths.items()}
    translation = tf.saved_model.load(exports["gnmt"][0]).signatures
    return {**loaded, "gnmt": translation["serving_default"], "gnmt_beam_search": translation["beam_search"]}


def generate(prime, length=5):
    rows = prime.shape[0]  # the arguments a row each, as TF Serving's row format sends them
    return {"text": prime, "length": tf.constant([length] * rows, tf.int32),
            "temperature": tf.constant([1.0] * rows, tf.float32), "seed": tf.constant([1] * rows, tf.int64)}


def sample(steps):
    rows = steps.shape[0]
    return {"steps": steps, "bias": tf.constant([0.5] * rows, tf.float32), "seed": tf.constant([1] * rows, tf.int64)}


def beam(source, beam_size=2):
    rows = source.shape[0]  # the arguments a row each, as TF Serving's row format sends them
    return {"text": source, "beam_size": tf.constant([beam_size] * rows, tf.int32 if isinstance(beam_size, int)
                                                     else tf.float32),
            "alpha": tf.constant([0.6] * rows, tf.float32), "beta": tf.constant([0.2] * rows, tf.float32)}


GOOD = {
    "gnmt": {"text": tf.constant(["It was superb."])},
    "gnmt_beam_search": beam(tf.constant(["It was superb."])),
    "han": {"text": tf.constant(["A fine film. I liked it."])},
    "graves_text": generate(tf.constant(["It was"])),
    "graves_handwriting": sample(tf.constant([10])),
}
REQUESTS = {
    "gnmt": {
        "empty": {"text": tf.constant(["It was.", ""])},
        "whitespace": {"text": tf.constant(["It was.", " \n\t"])},
        "non_utf8": {"text": tf.constant([b"It \xff\xfe was"])},
        "one_megabyte": {"text": tf.constant([ONE_MEGABYTE])},
        "batch_of_0": {"text": tf.constant([], tf.string)},
        "wrong_dtype": {"text": tf.constant([1, 2])},
        "wrong_rank": {"text": tf.constant([["It was."]])},
    },
    "gnmt_beam_search": {
        "empty": beam(tf.constant([""])),
        "whitespace": beam(tf.constant([" \n\t"])),
        "non_utf8": beam(tf.constant([b"It \xff\xfe was"])),
        "one_megabyte": beam(tf.constant([ONE_MEGABYTE])),
        "batch_of_0": beam(tf.constant([], tf.string)),
        "wrong_dtype": beam(tf.constant(["It was."]), beam_size=2.5),
        "wrong_rank": beam(tf.constant([["It was."]])),
        "huge_length": beam(tf.constant(["It was."]), beam_size=10**9),
    },
    "han": {
        "empty": {"text": tf.constant(["A fine text.", ""])},
        "whitespace": {"text": tf.constant(["A fine text.", "   \n\t"])},
        "non_utf8": {"text": tf.constant([b"superb \xff\xfe film"])},
        "one_megabyte": {"text": tf.constant([ONE_MEGABYTE])},
        "batch_of_0": {"text": tf.constant([], tf.string)},
        "wrong_dtype": {"text": tf.constant([1, 2])},
        "wrong_rank": {"text": tf.constant([["a"]])},
    },
    "graves_text": {
        "empty": generate(tf.constant(["It", ""])),
        "whitespace": generate(tf.constant([" \n\t"])),
        "non_utf8": generate(tf.constant([b"a \xff\xfe b"])),
        "one_megabyte": generate(tf.constant([ONE_MEGABYTE])),
        "batch_of_0": generate(tf.constant([], tf.string)),
        "wrong_dtype": generate(tf.constant([1.5])),
        "wrong_rank": generate(tf.constant([["It"]])),
        "huge_length": generate(tf.constant(["It"]), length=10**9),
    },
    "graves_handwriting": {
        "empty": sample(tf.constant([0])),  # nothing to draw
        "batch_of_0": sample(tf.constant([], tf.int32)),
        "wrong_dtype": sample(tf.constant([10.0])),
        "wrong_rank": sample(tf.constant([[10]])),
        "huge_length": sample(tf.constant([10**9])),
    },
}
NOT_APPLICABLE = {
    ("han", "huge_length"),  # no length argument
    ("gnmt", "huge_length"),  # serving_default's beam and lengths are the export's; beam_search takes them
    # The sampler takes no text.
    *(("graves_handwriting", case) for case in ("whitespace", "non_utf8", "one_megabyte")),
}


def han_classifies(out, batch=1):
    assert out["label"].shape == (batch,) and np.isfinite(out["probabilities"].numpy()).all()


def text_generated(out, batch=1, length=5):
    assert out["text"].shape == (batch,)
    assert all(len(t.decode("utf-8")) == length for t in out["text"].numpy())


def translated(out, batch=1, beams=None):
    shape = (batch,) if beams is None else (batch, beams)
    key = "translation" if beams is None else "translations"
    assert out[key].shape == shape


def row_refused(key, empty_value, error, batch=2, bad=1):
    """A check: row `bad` of the batch is not valid, with `error`, and `key` holds `empty_value` there."""

    def check(out):
        valid = [True] * batch
        valid[bad] = False
        assert out["valid"].numpy().tolist() == valid
        assert [e.decode() for e in out["error"].numpy()] == ["" if v else error for v in valid]
        assert np.all(out[key].numpy()[bad] == empty_value)

    return check


def error(message):
    return (tf.errors.InvalidArgumentError, message)


# What each cell gives: a check of the outputs, or (error type, message pattern).
EXPECTED = {
    ("gnmt", "empty"): row_refused("translation", b"", "empty source text (no piece)"),
    ("gnmt", "whitespace"): row_refused("translation", b"", "empty source text (no piece)"),
    ("gnmt", "non_utf8"): translated,  # invalid bytes become U+FFFD, which SentencePiece's nmt_nfkc reads as a space
    ("gnmt", "one_megabyte"): translated,  # cut to its first max_length pieces
    ("gnmt", "batch_of_0"): lambda out: translated(out, batch=0),
    ("gnmt", "wrong_dtype"): error("expected to be a string tensor but is a int32 tensor"),
    ("gnmt", "wrong_rank"): error(r"Shape of tensor text \[1,1\] is not compatible with expected shape \[\?\]"),
    ("gnmt_beam_search", "empty"): row_refused("translations", b"", "empty source text (no piece)", batch=1, bad=0),
    ("gnmt_beam_search", "whitespace"): row_refused("scores", -np.inf, "empty source text (no piece)", batch=1,
                                                    bad=0),
    ("gnmt_beam_search", "non_utf8"): lambda out: translated(out, beams=2),
    ("gnmt_beam_search", "one_megabyte"): lambda out: translated(out, beams=2),
    # No row carries the beam size: an empty batch searches with the export's (3 here).
    ("gnmt_beam_search", "batch_of_0"): lambda out: translated(out, batch=0, beams=3),
    ("gnmt_beam_search", "wrong_dtype"): error("expected to be a int32 tensor but is a float tensor"),
    ("gnmt_beam_search", "wrong_rank"): error(r"Shape of tensor text \[1,1\] is not compatible with expected "
                                              r"shape \[\?\]"),
    ("gnmt_beam_search", "huge_length"): error(r"beam_search: beam_size must be in \[1, 16\], got.*1000000000"),
    ("han", "empty"): row_refused("label", b"", "empty document (no word after tokenisation)"),
    ("han", "whitespace"): row_refused("probabilities", 0.0, "empty document (no word after tokenisation)"),
    # Invalid bytes become U+FFFD, an unknown word.
    ("han", "non_utf8"): lambda out: (han_classifies(out),
                                      "\ufffd" in [w.decode() for w in out["words"].numpy().ravel()]),
    # Cut to max_sentences × max_words.
    ("han", "one_megabyte"): lambda out: (han_classifies(out),
                                          out["word_attention"].shape[1] == TINY_MAX_SENTENCES),
    ("han", "batch_of_0"): lambda out: han_classifies(out, batch=0),
    ("han", "wrong_dtype"): error("expected to be a string tensor but is a int32 tensor"),
    ("han", "wrong_rank"): error(r"input must be a vector, got shape: \[1,1\]"),
    ("graves_text", "empty"): row_refused("text", b"", "empty prime text"),
    ("graves_text", "whitespace"): text_generated,  # white space is text: it primes the model
    ("graves_text", "non_utf8"): text_generated,  # invalid bytes and unknown characters read as [UNK]
    ("graves_text", "one_megabyte"): text_generated,  # its last 10,000 characters prime the model
    ("graves_text", "batch_of_0"): lambda out: text_generated(out, batch=0),
    ("graves_text", "wrong_dtype"): error("expected to be a string tensor but is a float tensor"),
    ("graves_text", "wrong_rank"): error(r"Shape of tensor text \[1,1\] is not compatible with expected "
                                         r"shape \[\?\]"),
    ("graves_text", "huge_length"): row_refused("text", b"", "length must be in [1, 10000], got 1000000000",
                                                batch=1, bad=0),
    ("graves_handwriting", "empty"): row_refused("lengths", 0, "steps must be in [1, 5000], got 0", batch=1, bad=0),
    ("graves_handwriting", "batch_of_0"): lambda out: (out["strokes"].shape[0] == 0,),
    ("graves_handwriting", "wrong_dtype"): error("expected to be a int32 tensor but is a float tensor"),
    ("graves_handwriting", "wrong_rank"): error(r"Shape of tensor steps \[1,1\] is not compatible with expected "
                                                r"shape \[\?\]"),
    ("graves_handwriting", "huge_length"): row_refused("strokes", 0.0, "steps must be in [1, 5000], got 1000000000",
                                                       batch=1, bad=0),
}


def test_matrix_is_complete():
    cells = {(signature, case) for signature in GOOD for case in BAD_INPUTS}
    assert set(EXPECTED) | NOT_APPLICABLE == cells
    assert {(s, c) for s, cases in REQUESTS.items() for c in cases} == set(EXPECTED)


@pytest.mark.parametrize("signature, case", sorted(EXPECTED))
def test_bad_input_gets_its_documented_result(signatures, signature, case):
    serve, expected = signatures[signature], EXPECTED[signature, case]
    if isinstance(expected, tuple):
        kind, message = expected
        with pytest.raises(kind, match=message):
            serve(**REQUESTS[signature][case])
    else:
        result = expected(serve(**REQUESTS[signature][case]))
        assert result is None or all(part is not False for part in result)
    serve(**GOOD[signature])  # and it still answers
