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


def test_plain_keras_baselines_take_batches_of_any_padded_length():
    """The headline ratios feed plain Keras the zoo's bucketed batches: one model, several padded shapes."""
    han = plain_keras.han(V, 3, None, None, 16, 8, 6)
    for shape in ((2, 3, T), (2, 2, 4)):
        assert tuple(han(np.ones(shape, np.int32)).shape) == (2, 3)
    for model in (plain_keras.sutskever(V, None, 10, 12, 2), plain_keras.cho(V, None, 10, 12, 6),
                  plain_keras.gnmt(V, None, 10, 12, 3, 8)):
        for s, t in ((T, 5), (4, 6)):
            assert tuple(model((np.ones((2, s), np.int32), np.ones((2, t), np.int32))).shape) == (2, t, V)


import flops  # noqa: E402


def test_flops_of_an_lstm_a_gru_and_a_dense_layer_by_hand():
    # LSTM, 2 units on 3 features, batch 1, 4 steps: a step is x [1, 3] · W [3, 8] = 2·3·8 = 48 and
    # h [1, 2] · U [2, 8] = 2·2·8 = 32, so 80; 4 steps 320; a training step 3 · 320 = 960.
    assert flops.lstm(1, 4, 3, 2) == 320
    assert flops.training(flops.lstm(1, 4, 3, 2)) == 960
    # 5 rows: 5 times as much.
    assert flops.lstm(5, 4, 3, 2) == 1600
    # GRU, same sizes: 2·3·6 = 36 and 2·2·6 = 24 a step, 4 steps 240.
    assert flops.gru(1, 4, 3, 2) == 240
    # [5, 3] · [3, 7] = 2·5·3·7.
    assert flops.dense(5, 3, 7) == 210


def test_flops_of_the_models_by_hand():
    # Sutskever, batch 1, source 2 steps, target 3, embedding 3, 2 units, 1 layer, vocabulary 5:
    # encoder 2 · 80 = 160, decoder 3 · 80 = 240, projection [3, 2] · [2, 5] = 60.
    assert flops.sutskever(1, 2, 3, 3, 2, 1, 5) == 460
    # A second layer (2 units on 2): 2·2·8 + 2·2·8 = 64 a step, 2 + 3 steps: + 320.
    assert flops.sutskever(1, 2, 3, 3, 2, 2, 5) == 780
    # HAN, 1 document of 1 sentence of 2 words, embedding 3, GRU 1, attention 2, 2 classes:
    # word GRU, 2 directions · 2 steps · (2·3·3 + 2·1·3 = 24) = 96; word attention over 2 steps of 2 features:
    # W h 2·2·2·2 = 16, scores 2·2·2 = 8, Σ α h 2·2·2 = 8, so 32; sentence GRU 2 · (2·2·3 + 2·1·3 = 18) = 36;
    # sentence attention over 1 step: 8 + 4 + 4 = 16; classifier 2·2·2 = 8. In all 188.
    assert flops.han(1, 1, 2, 3, 1, 2, 2) == 188
    # Graves, batch 1, 2 steps, 3 features, 2 units, 2 layers, 4 outputs: layer 1 2 · 80 = 160; layer 2 reads
    # 3 + 2 features, 2 · (2·5·8 + 2·2·8 = 112) = 224; output [2, 4] · [4, 4] = 64. In all 448.
    assert flops.graves(1, 2, 3, 2, 2, 4) == 448
    # Cho, batch 1, source 2, target 3, embedding 3, 2 units, maxout 1, vocabulary 5: a GRU step is
    # 2·3·6 + 2·2·6 = 60, so the encoder 2 · 60 = 120; summary and decoder start 2 · (2·2·2) = 16; the decoder
    # on e(y) 3 · 60 = 180; C c [1, 2] · [2, 6] = 24; maxout over [h'; e(y); c] [3, 7] · [7, 2] = 84;
    # projection [3, 1] · [1, 5] = 30. In all 454.
    assert flops.cho(1, 2, 3, 3, 2, 1, 5) == 454
    # Additive attention, batch 1, 2 queries, 3 keys, features 2, query features 2, 4 units: keys [3, 2] · [2, 4]
    # = 48, queries [2, 2] · [2, 4] = 32, scores [6, 4] · [4, 1] = 48, context [2, 3] · [3, 2] = 24. In all 152.
    assert flops.additive_attention(1, 2, 3, 2, 2, 4) == 152
    # GNMT, batch 1, source 3, target 2, embedding 2, 2 units, 2 + 2 layers, attention 4, vocabulary 5:
    # encoder 2 directions · 3 · (2·2·8 + 2·2·8 = 64) = 384, layer 2 reads 4: 3 · (2·4·8 + 32 = 96) = 288;
    # decoder 2 · 64 = 128, layer 2 reads [y; a] (4): 2 · 96 = 192; attention 152; projection [2, 2] · [2, 5] = 40.
    assert flops.gnmt(1, 3, 2, 2, 2, 2, 4, 5) == 384 + 288 + 128 + 192 + 152 + 40


def _torch_models():
    torch = pytest.importorskip("torch")
    import torch_models
    return torch, torch_models


def test_pytorch_reset_before_gru_is_keras_reset_after_false():
    """Cho's PyTorch GRU is the zoo's form: Keras's GRU(reset_after=False) over [x; c], padded steps keep h."""
    torch, torch_models = _torch_models()
    import keras
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=(2, 5, 3)).astype("float32"), rng.normal(size=(2, 4)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    h0 = rng.normal(size=(2, 6)).astype("float32")
    gru = keras.layers.GRU(6, reset_after=False, return_sequences=True, return_state=True)
    expected, last = gru(np.concatenate([x, np.repeat(c[:, None], 5, axis=1)], -1), mask=mask, initial_state=h0)
    kernel, recurrent, bias = gru.get_weights()
    ours = torch_models.ResetBeforeGRU(3, 6, context_features=4)
    assert sum(p.numel() for p in ours.parameters()) == gru.count_params()
    with torch.no_grad():
        ours.weight_ih.copy_(torch.as_tensor(kernel.T))
        ours.weight_hh.copy_(torch.as_tensor(recurrent.T))
        ours.bias.copy_(torch.as_tensor(bias))
        outputs, h = ours(torch.as_tensor(x), torch.as_tensor(mask), torch.as_tensor(h0), torch.as_tensor(c))
    np.testing.assert_allclose(h.numpy(), last, atol=1e-5)
    np.testing.assert_allclose(outputs.numpy()[0], np.asarray(expected)[0], atol=1e-5)
    np.testing.assert_allclose(outputs.numpy()[1, :2], np.asarray(expected)[1, :2], atol=1e-5)


@pytest.mark.parametrize("name", ["han", "sutskever", "gnmt"])
def test_pytorch_on_padded_batches_computes_what_it_computes_packed(name):
    """The headline's PyTorch models (every padded step, masked) give the packed models' loss and gradients."""
    torch, torch_models = _torch_models()
    rng = np.random.default_rng(1)

    def ids(*shape_lengths):
        rows, length = shape_lengths
        lengths = rng.integers(1, length + 1, rows)
        lengths[0] = length
        return np.where(np.arange(length) < lengths[:, None], rng.integers(2, V, (rows, length)), 0)

    if name == "han":
        words = ids(4 * 3, 5).reshape(4, 3, 5)
        words[1, 2] = 0  # a padded sentence
        words[2, 1:] = 0
        batch = (words, np.array([0, 1, 2, 1]))
        make = lambda pack: torch_models.HAN(V, 3, 8, 4, 6, pack)
    else:
        target = ids(4, 6)
        batch = ((ids(4, 7), np.where(target > 0, target, 0)), target)
        make = {"sutskever": lambda pack: torch_models.Sutskever(V, 8, 6, 2, pack),
                "gnmt": lambda pack: torch_models.GNMT(V, 8, 6, 3, 5, pack)}[name]
    tensors = torch_models.from_arrays(batch)
    torch.manual_seed(0)
    packed = make(True)
    padded = make(False)
    padded.load_state_dict(packed.state_dict())
    losses = []
    for model in (packed, padded):
        loss = model.loss(tensors)
        loss.backward()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    for (key, a), b in zip(packed.named_parameters(), padded.parameters()):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), atol=1e-5, err_msg=key)
