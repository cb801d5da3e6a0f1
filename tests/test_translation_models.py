"""Sutskever 2014, Cho 2014 and GNMT: the papers' wiring, one-step decoding = teacher forcing, save/load."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import run_python

from zoo import decoding, registry
from zoo.layers import Maxout
from zoo.losses import LabelSmoothedCrossentropy
from zoo.models import GNMT, ChoEncoderDecoder, SutskeverSeq2Seq

VOCABULARY = 20
SOURCE = np.array([[5, 6, 7, 0], [8, 9, 0, 0]], np.int32)
DECODER_INPUTS = np.array([[2, 10, 11, 12], [2, 13, 14, 0]], np.int32)


# Each model's class and sizes; `build`'s options add to or override them.
SIZES = {
    "sutskever": (SutskeverSeq2Seq, {"embedding_dim": 8, "units": 6, "num_layers": 2}),
    "cho": (ChoEncoderDecoder, {"embedding_dim": 8, "units": 6, "maxout_units": 4}),
    "gnmt": (GNMT, {"embedding_dim": 8, "units": 6, "encoder_layers": 3, "decoder_layers": 3, "attention_units": 5}),
}


def build(name, **options):
    keras.utils.set_random_seed(3)
    model_class, sizes = SIZES[name]
    model = model_class(VOCABULARY, **{**sizes, **options})
    model((SOURCE, DECODER_INPUTS))
    return model


MODELS = tuple(entry.name for entry in registry.MODELS if entry.family == "translation")
# One matrix for both embeddings and the output: the output layer's input must be embedding_dim (8) wide.
SHARED = {"sutskever": {"units": 8}, "cho": {"maxout_units": 8}, "gnmt": {"units": 8}}


def test_every_translator_of_the_registry_is_tested_here():
    assert set(SIZES) == set(MODELS)


def build_shared(name):
    return build(name, share_embeddings=True, **SHARED[name])


@pytest.mark.parametrize("name, shared", [(name, shared) for name in MODELS for shared in (False, True)])
def test_one_step_decoding_equals_teacher_forcing(name, shared):
    model = build_shared(name) if shared else build(name)
    expected = tf.nn.log_softmax(model((SOURCE, DECODER_INPUTS))).numpy()
    state, steps = model.encode(SOURCE), []
    for t in range(DECODER_INPUTS.shape[1]):
        log_probs, state, _ = model.decode_step(DECODER_INPUTS[:, t], state)
        steps.append(log_probs.numpy())
    steps = np.stack(steps, axis=1)
    np.testing.assert_allclose(steps[0], expected[0], atol=1e-5)
    np.testing.assert_allclose(steps[1, :3], expected[1, :3], atol=1e-5)  # row 1's last input is padding


@pytest.mark.parametrize("name", MODELS)
def test_padding_of_the_source_changes_nothing(name):
    model = build(name)
    padded = np.pad(SOURCE, [[0, 0], [0, 3]])
    np.testing.assert_allclose(model((padded, DECODER_INPUTS)).numpy(), model((SOURCE, DECODER_INPUTS)).numpy(),
                               atol=1e-5)


def test_a_recipes_keras_file_with_its_training_loss_loads_where_only_the_models_are_imported(tmp_path):
    """A recipe saves its compiled model: the file names LabelSmoothedCrossentropy, which `zoo.models` registers."""
    model = build("gnmt")
    model.compile(loss=LabelSmoothedCrossentropy(0.1, ignore_class=0))
    model.save(tmp_path / "model.keras")
    code = ("import keras, zoo.models; model = keras.models.load_model('model.keras'); "
            "print(type(model.loss).__name__, model.loss.label_smoothing)")
    result = run_python(["-c", code], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["LabelSmoothedCrossentropy", "0.1"]


@pytest.mark.parametrize("name, options", [(name, {}) for name in MODELS] + [("gnmt", {"dropout": 0.3})])
def test_keras_save_and_load_round_trip(name, options, tmp_path):
    model = build(name, **options)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model) and loaded.get_config() == model.get_config()
    np.testing.assert_allclose(loaded((SOURCE, DECODER_INPUTS)).numpy(), model((SOURCE, DECODER_INPUTS)).numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_shared_embeddings_are_one_matrix_for_source_target_and_output(name, tmp_path):
    model = build_shared(name)
    assert model.target_embedding is model.source_embedding
    names = sorted(v.path.split("/", 1)[1] for v in model.trainable_variables if "embedding" in v.path
                   or "projection" in v.path)
    assert names == ["projection/bias", "source_embedding/embeddings"]  # no target matrix, no output kernel
    features = np.random.default_rng(0).random((2, 8), "float32")
    matrix, bias = model.source_embedding.embeddings.numpy(), model.projection.bias.numpy()
    np.testing.assert_allclose(model.projection(features).numpy(), features @ matrix.T + bias, rtol=1e-5)
    with tf.GradientTape() as tape:  # trained from the inputs and the output both, as one variable
        loss = tf.reduce_sum(model((SOURCE, DECODER_INPUTS), training=True))
    assert all(g is not None for g in tape.gradient(loss, model.trainable_variables))
    model.save(tmp_path / "shared.keras")
    loaded = keras.models.load_model(tmp_path / "shared.keras")
    assert loaded.target_embedding is loaded.source_embedding and loaded.get_config()["share_embeddings"]
    np.testing.assert_allclose(loaded((SOURCE, DECODER_INPUTS)).numpy(), model((SOURCE, DECODER_INPUTS)).numpy(),
                               atol=1e-6)


@pytest.mark.parametrize("name", MODELS)
def test_shared_embeddings_need_an_output_input_of_the_embedding_size(name):
    with pytest.raises(ValueError, match="an output tied to the embeddings needs inputs of the embedding size 8, "
                                         "got [46]"):
        build(name, share_embeddings=True)


@pytest.mark.parametrize("name", MODELS)
def test_gradients_reach_every_weight(name):
    model = build(name)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model((SOURCE, DECODER_INPUTS), training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.abs(tf.convert_to_tensor(g).numpy()).sum() > 0 for g in grads)


@pytest.mark.parametrize("name", MODELS)
def test_dropout_acts_in_training_only(name):
    model, plain = build(name, dropout=0.5), build(name)
    plain.set_weights(model.get_weights())  # the same weights: dropout adds none
    inference = model((SOURCE, DECODER_INPUTS)).numpy()
    np.testing.assert_allclose(inference, plain((SOURCE, DECODER_INPUTS)).numpy(), atol=1e-6)
    first, second = (model((SOURCE, DECODER_INPUTS), training=True).numpy() for _ in range(2))
    assert not np.allclose(first, inference, atol=1e-3) and not np.allclose(first, second, atol=1e-3)
    np.testing.assert_allclose(plain((SOURCE, DECODER_INPUTS), training=True).numpy(), inference, atol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model((SOURCE, DECODER_INPUTS), training=True))
    assert all(g is not None for g in tape.gradient(loss, model.trainable_variables))


@pytest.mark.parametrize("name", MODELS)
def test_dropout_outside_zero_to_one_is_refused(name):
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        build(name, dropout=1.0)


@pytest.mark.parametrize("name", MODELS)
def test_beam_search_over_the_model_runs_in_a_graph(name):
    model = build(name)

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([], tf.int32)])
    def search(source, beam_size):
        return decoding.beam_search(model.decode_step, model.encode(source), 2, 3, 6, beam_size, 0.6, 0.2,
                                    source_mask=source != 0)

    out = search(SOURCE, tf.constant(3))
    assert out["ids"].shape[:2] == (2, 3) and out["scores"].shape == (2, 3)
    assert np.all(np.diff(out["scores"].numpy(), axis=1) <= 0)  # best first


def test_sutskever_reads_the_source_reversed():
    model = build("sutskever")
    forward = SutskeverSeq2Seq.from_config({**model.get_config(), "reverse_source": False})
    forward((SOURCE, DECODER_INPUTS))
    forward.set_weights(model.get_weights())
    reversed_by_hand = np.array([[7, 6, 5, 0], [9, 8, 0, 0]], np.int32)  # within each row's length
    np.testing.assert_allclose(model((SOURCE, DECODER_INPUTS)).numpy(),
                               forward((reversed_by_hand, DECODER_INPUTS)).numpy(), atol=1e-6)


def test_sutskever_encoder_state_starts_the_decoder():
    model = build("sutskever")
    state = model.encode(SOURCE)
    other = model.encode(np.array([[11, 12, 13, 14], [15, 16, 17, 0]], np.int32))
    assert sorted(state) == ["c_0", "c_1", "h_0", "h_1"]
    first = model.decode_step(np.array([2, 2]), state)[0].numpy()
    assert np.abs(first - model.decode_step(np.array([2, 2]), other)[0].numpy()).max() > 1e-4


def test_cho_context_enters_every_decoder_step_and_the_output():
    """With h'_0 forced to 0, c can reach step t only through the GRU's input and the maxout layer."""
    model = build("cho")
    start = model.decoder_start
    start.set_weights([np.zeros_like(w) for w in start.get_weights()])  # h'_0 = tanh(0) = 0 for any c
    other_source = np.array([[11, 12, 13, 14], [15, 16, 17, 0]], np.int32)
    a = model((SOURCE, DECODER_INPUTS)).numpy()
    b = model((other_source, DECODER_INPUTS)).numpy()
    assert np.all(np.abs(a - b).max(axis=-1)[0] > 1e-5)  # every step of row 0 sees the new context
    # And the output layer reads c directly: the same h'_t and y_{t-1} with another c give other logits.
    state = model.encode(SOURCE)
    swapped = {"h": state["h"], "context": model.encode(other_source)["context"]}
    embedded = model.embed_previous(np.array([2, 2]))
    h, _ = model.decoder.cell(tf.concat([embedded, state["context"]], -1), state["h"])
    assert np.abs(model.projection(model._maxout(h, embedded, state["context"])).numpy()
                  - model.projection(model._maxout(h, embedded, swapped["context"])).numpy()).max() > 1e-5


def test_cho_uses_the_papers_gru():
    model = build("cho")
    assert model.encoder.cell.reset_after is False and model.decoder.cell.reset_after is False


def test_maxout_takes_the_max_of_each_pool():
    layer = Maxout(2, pool_size=2)
    layer.build((None, 3))
    kernel = np.array([[1, -1, 0, 2], [0, 0, 1, 0], [0, 1, 0, 0]], np.float32)
    layer.linear.set_weights([kernel, np.array([0, 0, 0.5, 0], np.float32)])
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    # x W + b = [1, 2, 2.5, 2] → max(1, 2), max(2.5, 2)
    np.testing.assert_allclose(layer(x).numpy(), [[2.0, 2.5]])


def test_gnmt_attention_is_masked_and_sums_to_one():
    model = build("gnmt")
    _, attention = model((SOURCE, DECODER_INPUTS), return_attention=True)
    attention = attention.numpy()
    assert attention.shape == (2, 4, 4)
    np.testing.assert_allclose(attention.sum(axis=-1), 1.0, rtol=1e-5)
    assert np.all(attention[0, :, 3] == 0) and np.all(attention[1, :, 2:] == 0)


def test_gnmt_bottom_encoder_layer_reads_both_ways():
    model = build("gnmt")
    changed_last = SOURCE.copy()
    changed_last[0, 2] = 15
    first = model._encode(SOURCE)[0]
    second = model._encode(changed_last)[0]
    # The first source position sees the last word only through the backward LSTM.
    assert np.abs(first.numpy()[0, 0] - second.numpy()[0, 0]).max() > 1e-6


def test_gnmt_wants_room_for_its_structure():
    with pytest.raises(ValueError, match="at least 2 encoder layers"):
        GNMT(VOCABULARY, encoder_layers=1)


@pytest.mark.parametrize("name", MODELS)
def test_a_saved_keras_file_loads_with_its_recorded_logits(name):
    """`.keras` files restore layers in creation order: a change that moves a layer breaks the files users saved."""
    folder = os.path.join(os.path.dirname(__file__), "data", "saved_translators")
    model = keras.models.load_model(os.path.join(folder, f"{name}.keras"))
    ids = np.array([[5, 6, 7], [8, 9, 0]], np.int32)
    np.testing.assert_allclose(model((ids, ids)).numpy(), np.load(os.path.join(folder, "logits.npz"))[name], atol=1e-6)
