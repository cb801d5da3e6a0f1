"""The benchmarks' plain-Keras baselines are the zoo's architectures: same weights, same parameter counts.

benchmarks/ runs by hand (it needs the `[bench]` extra); this keeps its
comparison honest in CI: a zoo model that grows a layer shows up here.
"""

import sys

import numpy as np
import pytest

from conftest import REPO
from zoo.models import (ChoEncoderDecoder, GNMT, GravesHandwritingModel, GravesTextModel,
                        HierarchicalAttentionNetwork, SutskeverSeq2Seq)

sys.path.insert(0, str(REPO / "benchmarks"))
import plain_keras  # noqa: E402

V, T = 50, 7
IDS = np.ones((2, T), np.int32)


@pytest.mark.parametrize("zoo_model, zoo_input, plain_model", [
    (lambda: HierarchicalAttentionNetwork(V, 3, 16, 8, 6), np.ones((2, 3, T), np.int32),
     lambda: plain_keras.han(V, 3, 3, T, 16, 8, 6)),
    (lambda: GravesTextModel(V, units=12, num_layers=3), IDS, lambda: plain_keras.graves_text(V, T, 12, 3)),
    (lambda: GravesHandwritingModel(12, 3, 4), np.ones((2, T, 3), np.float32),
     lambda: plain_keras.graves_handwriting(T, 12, 3, 4)),
    (lambda: SutskeverSeq2Seq(V, 10, 12, 2), (IDS, IDS), lambda: plain_keras.sutskever(V, T, 10, 12, 2)),
    (lambda: ChoEncoderDecoder(V, 10, 12, 6), (IDS, IDS), lambda: plain_keras.cho(V, T, 10, 12, 6)),
    (lambda: GNMT(V, 10, 12, 3, 3, 8), (IDS, IDS), lambda: plain_keras.gnmt(V, T, 10, 12, 3, 8)),
], ids=["han", "graves_text", "graves_handwriting", "sutskever", "cho", "gnmt"])
def test_plain_keras_baseline_has_the_zoo_models_parameters(zoo_model, zoo_input, plain_model):
    zoo = zoo_model()
    zoo(zoo_input)
    plain = plain_model()
    assert plain.count_params() == zoo.count_params()
    assert sorted(tuple(w.shape) for w in plain.weights) == sorted(tuple(w.shape) for w in zoo.weights)
