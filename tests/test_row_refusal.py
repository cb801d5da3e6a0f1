"""A bad value in one row (a temperature, a bias, a length, an over-long text, a malformed style) refuses that
row alone: the batch answers every other row exactly as it answers that row alone (under TF Serving's batching
the rows beside it are other clients' requests)."""

import re

import numpy as np
import pytest
import tensorflow as tf

from test_tasks import exports  # noqa: F401 (the fixture: a tiny export of each family)
from zoo import export

NAN, INF = float("nan"), float("inf")


@pytest.fixture(scope="module")
def signatures(exports):
    text_signatures, handwriting_signatures, synthesis_signatures = (
        tf.saved_model.load(exports[name][0]).signatures for name in ("graves_text", "graves_handwriting",
                                                                       "graves_synthesis"))
    return {"generate": text_signatures["generate"], "sample": handwriting_signatures["sample"],
            "serving_default": synthesis_signatures["serving_default"],
            "write_in_style": synthesis_signatures["write_in_style"]}


STYLE = np.random.default_rng(3).normal(size=(4, 3)).astype(np.float32)

# Each signature's three good rows (a dict of one value a row), and the inputs that make a row bad.
GOOD_ROWS = {
    "generate": {"text": ["ab", "c a", "ba"], "length": [5, 5, 5], "temperature": [1.0, 0.5, 0.0],
                 "seed": [1, 2, 3]},
    "sample": {"steps": [12, 12, 12], "bias": [0.0, 0.5, 2.0], "seed": [1, 2, 3]},
    "serving_default": {"text": ["ab", "ca", "bb"], "bias": [0.0, 1.0, 2.0], "seed": [1, 2, 3]},
    "write_in_style": {"text": ["ab", "ca", "bb"], "bias": [0.0, 1.0, 2.0], "seed": [1, 2, 3],
                       "style_strokes": [STYLE] * 3, "style_lengths": [4, 3, 4], "style_text": ["ba", "a", "c"]},
}
BAD_ROWS = [
    ("generate", {"temperature": -1.0}, "temperature must be finite and >= 0, got -1"),
    ("generate", {"temperature": NAN}, "temperature must be finite and >= 0, got nan"),
    ("generate", {"length": 0}, r"length must be in \[1, 10000\], got 0"),
    ("generate", {"length": 10**9}, r"length must be in \[1, 10000\], got 1000000000"),
    ("sample", {"bias": -0.5}, "bias must be finite and >= 0, got -0.5"),
    ("sample", {"bias": INF}, "bias must be finite and >= 0, got inf"),
    ("sample", {"bias": 10.5}, "bias must be at most 10, got 10.5"),
    ("sample", {"steps": 0}, r"steps must be in \[1, 5000\], got 0"),
    ("serving_default", {"text": "a" * 121}, "text longer than 120 characters: 121"),
    ("serving_default", {"bias": NAN}, "bias must be finite and >= 0, got nan"),
    ("serving_default", {"bias": 10.5}, "bias must be at most 10, got 10.5"),
    ("serving_default", {"text": ""}, "empty text"),
    ("write_in_style", {"text": "a" * 119}, "style text and text longer than 120 characters: 121"),
    ("write_in_style", {"bias": -2.0}, "bias must be finite and >= 0, got -2"),
    ("write_in_style", {"bias": 11.0}, "bias must be at most 10, got 11"),
    ("write_in_style", {"style_strokes": np.full((4, 3), NAN, np.float32)}, "style_strokes must be finite"),
    ("write_in_style", {"style_lengths": 5}, r"style_lengths must be in \[1, 4\], got 5"),
    ("write_in_style", {"style_lengths": 0}, r"style_lengths must be in \[1, 4\], got 0"),
]
EMPTY = {"text": b"", "strokes": 0.0, "lengths": 0, "finished": False, "alignment": 0.0}
DTYPES = {"length": tf.int32, "steps": tf.int32, "style_lengths": tf.int32, "seed": tf.int64}


def request(rows):
    return {name: tf.constant(values, DTYPES.get(name, None if name in ("text", "style_text") else tf.float32))
            for name, values in rows.items()}


def row(rows, index):
    return {name: values[index: index + 1] for name, values in rows.items()}


def assert_same_row(batch, alone, index):
    for name, value in alone.items():
        if name in ("valid", "error"):
            assert batch[name].numpy()[index] == value.numpy()[0]
            continue
        got, expected = batch[name].numpy()[index], value.numpy()[0]
        if isinstance(expected, np.ndarray) and expected.dtype.kind == "f":  # cut to the row's own points and characters
            got = got[tuple(slice(0, n) for n in expected.shape)]
            np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=name)
        else:
            np.testing.assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("signature, change, message", BAD_ROWS)
def test_a_bad_value_refuses_its_row_alone(signatures, signature, change, message):
    serve, good = signatures[signature], GOOD_ROWS[signature]
    rows = {name: [*values[:1], change.get(name, values[1]), *values[2:]] for name, values in good.items()}
    out = serve(**request(rows))
    assert out["valid"].numpy().tolist() == [True, False, True]
    errors = [e.decode() for e in out["error"].numpy()]
    assert errors[0] == errors[2] == "" and re.fullmatch(message, errors[1]), errors
    for name, empty in EMPTY.items():
        if name in out:
            assert np.all(out[name].numpy()[1] == empty), name
    for index in (0, 2):
        assert_same_row(out, serve(**request(row(rows, index))), index)


@pytest.mark.parametrize("signature", ["sample", "serving_default", "write_in_style"])
def test_the_bias_cap_itself_is_written(signatures, signature):
    rows = {name: values[:1] for name, values in GOOD_ROWS[signature].items()}
    out = signatures[signature](**request({**rows, "bias": [export.MAX_BIAS]}))
    assert out["valid"].numpy().tolist() == [True] and out["lengths"].numpy()[0] > 0
