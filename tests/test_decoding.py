"""zoo.decoding against brute force and a plain-Python beam search, on hand-made Markov "models"."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from zoo import decoding

START, END = 0, 1  # every sentence starts from token 0; <eos> is 1
SOURCE = 3  # source words the fake attention covers


class Markov:
    """A toy step function: P(y_t | y_{t-1}) read from a fixed table per sentence and step.

    Batch row r decodes sentence `state["sentence"][r]` of the table:
    log_probs = table[sentence, step, previous token]. The fake attention, when
    given, is read the same way and spreads over every source word, padding
    included, so a decoder that ignored `source_mask` would score differently.
    """

    def __init__(self, table, attention=None):
        self.table = np.asarray(table, np.float32)  # [sentences, steps, vocab, vocab], log-probabilities
        self.attention = None if attention is None else np.asarray(attention, np.float32)
        self.calls = 0

    @classmethod
    def random(cls, seed, sentences, steps, vocab, attention=False, end_bias=0.0):
        rng = np.random.default_rng(seed)
        logits = 2.0 * rng.normal(size=(sentences, steps, vocab, vocab))
        logits[..., END] += end_bias
        table = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        weights = rng.exponential(size=(sentences, steps, vocab, SOURCE)) if attention else None
        return cls(table, None if weights is None else weights / weights.sum(-1, keepdims=True))

    @property
    def vocab(self):
        return self.table.shape[-1]

    def initial_state(self, sentences):
        sentences = tf.convert_to_tensor(sentences, tf.int32)
        return {"sentence": sentences, "step": tf.zeros_like(sentences)}

    def step(self, tokens, state):
        self.calls += 1
        index = tf.stack([state["sentence"], state["step"], tokens], axis=1)
        attention = None if self.attention is None else tf.gather_nd(self.attention, index)
        return tf.gather_nd(self.table, index), {**state, "step": state["step"] + 1}, attention


def gnmt_score(log_prob, length, coverage, alpha, beta, mask):
    """Wu et al. 2016 §7 in float64: log P / lp + cp, cp over the real source words only (None: no attention)."""
    length_penalty = ((5.0 + length) / 6.0) ** alpha
    coverage_penalty = 0.0 if coverage is None else beta * np.sum(np.log(np.minimum(coverage[mask], 1.0)))
    return log_prob / length_penalty + coverage_penalty


def extensions(model, sentence, tokens, log_prob, coverage):
    """(tokens, log P, coverage) of `tokens` extended by each token of the vocabulary."""
    step, previous = len(tokens), (tokens[-1] if tokens else START)
    if coverage is not None:
        coverage = coverage + model.attention[sentence, step, previous]
    return [(tokens + [y], log_prob + float(model.table[sentence, step, previous, y]), coverage)
            for y in range(model.vocab)]


def brute_force(model, sentence, max_length, alpha=0.0, beta=0.0, mask=(True,) * SOURCE):
    """Every hypothesis (ended by <eos> or cut at max_length) as (score, tokens, log P), best first."""
    done, live = [], [([], 0.0, None if model.attention is None else np.zeros(SOURCE))]
    while live:
        grown = [h for hypothesis in live for h in extensions(model, sentence, *hypothesis)]
        ended = [h for h in grown if h[0][-1] == END or len(h[0]) == max_length]
        done += ended
        live = [h for h in grown if not (h[0][-1] == END or len(h[0]) == max_length)]
    mask = np.asarray(mask, bool)
    return sorted(((gnmt_score(lp, len(t), c, alpha, beta, mask), t, lp) for t, lp, c in done), key=lambda h: -h[0])


def reference_beam_search(model, sentence, max_length, beam_size, alpha=0.0, beta=0.0, mask=(True,) * SOURCE):
    """The search `beam_search` documents, in plain Python and always run to max_length (no early stop)."""
    mask = np.asarray(mask, bool)
    finished, alive = [], [([], 0.0, None if model.attention is None else np.zeros(SOURCE))]
    for step in range(max_length):
        candidates = [(gnmt_score(lp, step + 1, c, alpha, beta, mask), t, lp, c)
                      for hypothesis in alive for t, lp, c in extensions(model, sentence, *hypothesis)]
        candidates.sort(key=lambda h: -h[0])  # stable: the earlier beam, then the lower token, first on a tie

        def ends(h):
            return h[1][-1] == END or step + 1 == max_length

        finished = sorted(finished + [h[:3] for h in candidates[:beam_size] if ends(h)], key=lambda h: -h[0])
        finished = finished[:beam_size]
        alive = [h[1:] for h in candidates if not ends(h)][:beam_size]
    return finished


def numpy_dict(out):
    return {name: value.numpy() for name, value in out.items()}


def assert_n_best(out, row, expected, model=None, sentence=None):
    """Row `row` of beam_search's output holds `expected` [(score, tokens, log P)] in this order."""
    for k, (score, tokens, log_prob) in enumerate(expected):
        length = out["lengths"][row, k]
        assert out["ids"][row, k, :length].tolist() == tokens, f"hypothesis {k}"
        assert (out["ids"][row, k, length:] == 0).all()
        np.testing.assert_allclose(out["scores"][row, k], score, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(out["log_probs"][row, k], log_prob, rtol=1e-5, atol=1e-5)
        if model is not None and model.attention is not None:  # p_{i,j} of the path, zero after its end
            previous = [START] + tokens[:-1]
            expected_attention = model.attention[sentence, np.arange(length), previous]
            np.testing.assert_allclose(out["attention"][row, k, :length], expected_attention, rtol=1e-6)
            assert (out["attention"][row, k, length:] == 0).all()


def assert_separated(ranked, count):
    """The case is well posed: no near tie among the first `count` + 1 scores that float32 could flip."""
    scores = np.array([h[0] for h in ranked[: count + 1]])
    assert np.all(-np.diff(scores) > 1e-4), "pick another seed: near tie"


# (alpha, beta, attention, masks of the two sentences)
SCORINGS = {
    "log_prob": (0.0, 0.0, False, None),
    "length_penalty": (0.8, 0.5, False, None),  # beta without attention must do nothing
    "coverage_with_padding": (0.6, 0.7, True, [[True, True, False], [True, False, False]]),
}


def scoring_arguments(scoring):
    """The brute force's keyword arguments for sentences 0 and 1."""
    alpha, beta, _, masks = SCORINGS[scoring]
    return [dict(alpha=alpha, beta=beta, mask=mask) for mask in masks or [[True] * SOURCE] * 2]


def decode_two_sentences(model, max_length, beam_size, scoring):
    """beam_search on sentences 0 and 1 in one batch, and the brute force's arguments for each."""
    alpha, beta, _, masks = SCORINGS[scoring]
    out = decoding.beam_search(model.step, model.initial_state([0, 1]), START, END, max_length, beam_size, alpha,
                               beta, masks)
    return numpy_dict(out), scoring_arguments(scoring)


@pytest.mark.parametrize("scoring", SCORINGS)
@pytest.mark.parametrize("vocab, max_length", [(3, 3), (4, 3), (3, 4)])
def test_a_beam_as_large_as_every_hypothesis_returns_all_of_them_in_brute_force_order(scoring, vocab, max_length):
    for seed in range(2):
        model = Markov.random(seed, 2, max_length, vocab, attention=SCORINGS[scoring][2])
        count = len(brute_force(model, 0, max_length))
        out, scorings = decode_two_sentences(model, max_length, count + 2, scoring)
        for sentence, scoring_args in enumerate(scorings):
            expected = brute_force(model, sentence, max_length, **scoring_args)
            assert len(expected) == count
            assert_separated(expected, count - 1)
            assert_n_best(out, sentence, expected, model, sentence)
            # Two slots more than there are hypotheses: empty, as documented.
            assert (out["lengths"][sentence, count:] == 0).all() and (out["ids"][sentence, count:] == 0).all()
            assert np.isneginf(out["scores"][sentence, count:]).all()


@pytest.mark.parametrize("scoring", SCORINGS)
@pytest.mark.parametrize("vocab, max_length", [(4, 2), (3, 3), (3, 4)])
def test_smallest_beam_that_prunes_nothing_finds_the_exact_n_best(scoring, vocab, max_length):
    # Before the last step there are at most vocab * (vocab - 1)^(max_length - 2)
    # candidates; a beam that large keeps them all, and the last step's best
    # ones then compete with everything finished before. (4, 2): beam = vocab.
    beam_size = vocab * (vocab - 1) ** (max_length - 2)
    for seed in range(3):
        model = Markov.random(10 + seed, 2, max_length, vocab, attention=SCORINGS[scoring][2])
        out, scorings = decode_two_sentences(model, max_length, beam_size, scoring)
        for sentence, scoring_args in enumerate(scorings):
            expected = brute_force(model, sentence, max_length, **scoring_args)
            assert len(expected) > beam_size  # something was pruned
            assert_separated(expected, beam_size)
            assert_n_best(out, sentence, expected[:beam_size], model, sentence)


@pytest.mark.parametrize("scoring", SCORINGS)
def test_beam_search_with_early_stopping_equals_the_search_run_to_max_length(scoring):
    max_length, steps_run = 7, []
    for seed in range(3):
        model = Markov.random(20 + seed, 2, max_length, 5, attention=SCORINGS[scoring][2], end_bias=1.5)
        best = [brute_force(model, sentence, max_length, **args)[0][0]
                for sentence, args in enumerate(scoring_arguments(scoring))]
        for beam_size in (1, 2, 3):
            model.calls = 0
            out, scorings = decode_two_sentences(model, max_length, beam_size, scoring)
            steps_run.append(out["ids"].shape[-1])
            assert model.calls == steps_run[-1]  # one call per position
            for sentence, scoring_args in enumerate(scorings):
                expected = reference_beam_search(model, sentence, max_length, beam_size, **scoring_args)
                assert_separated(expected, beam_size - 1)
                assert_n_best(out, sentence, expected, model, sentence)
                assert out["scores"][sentence, 0] <= best[sentence] + 1e-5  # never above the true best
    assert min(steps_run) < max_length == max(steps_run)  # both stopped early and ran to the end


def test_hypotheses_of_probability_zero_are_never_returned():
    model = Markov.random(15, 2, 3, 4, attention=True)
    model.table[..., 2] = -np.inf  # token 2 is forbidden: the rest renormalised
    model.table -= np.log(np.exp(model.table).sum(-1, keepdims=True))
    possible = [h for h in brute_force(model, 0, 3) if np.isfinite(h[0])]
    assert len(possible) == 15  # as with a vocabulary of 3
    out, scorings = decode_two_sentences(model, 3, 20, "coverage_with_padding")
    for sentence, scoring_args in enumerate(scorings):
        expected = [h for h in brute_force(model, sentence, 3, **scoring_args) if np.isfinite(h[0])]
        assert_n_best(out, sentence, expected, model, sentence)
        assert (out["lengths"][sentence, 15:] == 0).all() and np.isneginf(out["log_probs"][sentence, 15:]).all()


def test_ties_go_to_the_lower_index_and_stop_the_search():
    # Uniform over 3 tokens: step 0 keeps 0 and <eos> (before 2), step 1 ends 0 <eos>
    # (before 0 2, 2 0, ...). Then the live 0 0 can at best tie the worst
    # finished 0 <eos>, which settles the search one step before max_length.
    model = Markov(np.log(np.full((1, 3, 3, 3), 1.0 / 3)))
    out = numpy_dict(decoding.beam_search(model.step, model.initial_state([0]), START, END, 3, 2))
    assert out["ids"][0].tolist() == [[END, 0], [0, END]]
    assert model.calls == 2


def chain_model(steps, first, then, attention=None):
    """One sentence, tokens {0, <eos> 1, 2}: P(. | START) = `first` at step 0, P(. | 0) = `then` at later steps."""
    table = np.full((1, steps, 3, 3), 1.0 / 3)
    table[0, 0, START] = first
    table[0, 1:, 0] = then
    return Markov(np.log(table), attention)


def test_early_stopping_leaves_room_for_the_length_penalty():
    # <eos> first: log 0.55 = -0.60 beats 0 (log 0.4 = -0.92) at length 1, but
    # with α = 1 the 10 tokens 0 0 ... 0 score (log 0.4 + 9 log 0.99) / lp(10) =
    # -0.40. A bound that used lp of the next length (-0.92 / lp(2) = -0.79)
    # instead of lp(max_length) would stop after one step with <eos>.
    model = chain_model(10, [0.4, 0.55, 0.05], [0.99, 0.005, 0.005])
    out = numpy_dict(decoding.beam_search(model.step, model.initial_state([0]), START, END, 10, 1, alpha=1.0))
    assert out["ids"][0, 0].tolist() == [0] * 10
    np.testing.assert_allclose(out["scores"][0, 0], (np.log(0.4) + 9 * np.log(0.99)) / (15 / 6), rtol=1e-5)


def test_early_stopping_leaves_room_for_the_coverage_penalty():
    # Step 0 attends to source word 0 only: <eos> then scores log 0.5 + log 0.98
    # + 2 log 0.01 = -9.9, above the live 0 at -10.0. Going on covers words 1
    # and 2 and 0 0 <eos> scores log(0.45 * 0.9 * 0.9) + 0 = -1.0. A bound that
    # kept the live hypothesis's current cp instead of 0 would stop with <eos>.
    attention = np.full((1, 3, 3, SOURCE), 1.0 / 3)
    attention[0, 0, START] = [0.98, 0.01, 0.01]
    attention[0, 1, 0] = [0.01, 0.5, 0.49]
    attention[0, 2, 0] = [0.01, 0.49, 0.5]
    model = chain_model(3, [0.45, 0.5, 0.05], [0.9, 0.05, 0.05], attention)
    model.table[0, 2, 0] = np.log([0.05, 0.9, 0.05])
    out = numpy_dict(decoding.beam_search(model.step, model.initial_state([0]), START, END, 3, 1, beta=1.0))
    assert out["ids"][0, 0].tolist() == [0, 0, END]
    np.testing.assert_allclose(out["scores"][0, 0], np.log(0.45 * 0.9 * 0.9), rtol=1e-5)


def test_beam_search_beats_greedy_on_a_garden_path():
    # Greedy takes token 2 (0.6), whose continuations have 1/3 each; beam 2 also keeps 0 (0.4), then <eos> (0.9).
    table = np.full((1, 2, 3, 3), 1.0 / 3)
    table[0, 0, START] = [0.4, 0.0, 0.6]
    table[0, 1, 0] = [0.05, 0.9, 0.05]
    model = Markov(np.log(np.maximum(table, 1e-30)))
    best = numpy_dict(decoding.beam_search(model.step, model.initial_state([0]), START, END, 2, 2))
    assert best["ids"][0, 0].tolist() == [0, END]
    np.testing.assert_allclose(best["log_probs"][0, 0], np.log(0.4 * 0.9), rtol=1e-6)
    assert decoding.greedy(model.step, model.initial_state([0]), START, END, 2)["ids"].numpy()[0, 0] == 2


def test_greedy_equals_beam_search_of_one_without_penalties():
    model = Markov.random(30, 4, 6, 5)
    greedy = numpy_dict(decoding.greedy(model.step, model.initial_state([0, 1, 2, 3]), START, END, 6))
    beam = numpy_dict(decoding.beam_search(model.step, model.initial_state([0, 1, 2, 3]), START, END, 6, 1))
    np.testing.assert_array_equal(greedy["lengths"], beam["lengths"][:, 0])
    np.testing.assert_allclose(greedy["log_prob"], beam["log_probs"][:, 0], rtol=1e-6)
    for row, length in enumerate(greedy["lengths"]):
        assert greedy["ids"][row, :length].tolist() == beam["ids"][row, 0, :length].tolist()
    assert len(set(greedy["lengths"])) > 1  # rows of different lengths, some cut at max_length


def hand_model(steps=6):
    """Two sentences, 3 tokens. Sentence 0: 0 (0.5) then <eos> (0.7); sentence 1: <eos> (0.6) at once."""
    table = np.full((2, steps, 3, 3), 1.0 / 3)
    table[0, 0, START] = [0.5, 0.2, 0.3]
    table[0, 1, 0] = [0.1, 0.7, 0.2]
    table[1, 0, START] = [0.3, 0.6, 0.1]
    attention = np.zeros((2, steps, 3, SOURCE))
    attention[0, 0, START] = [0.7, 0.2, 0.1]
    attention[0, 1, 0] = [0.1, 0.1, 0.8]
    attention[1, 0, START] = [0.3, 0.3, 0.4]
    return Markov(np.log(table), attention)


def test_greedy_by_hand_stops_when_every_row_has_ended():
    model = hand_model()
    out = numpy_dict(decoding.greedy(model.step, model.initial_state([0, 1]), START, END, 6, pad_id=-1))
    # pad_id -1 is no token: the model must be fed <eos> for the ended row, or gather_nd would fail.
    assert out["ids"].tolist() == [[0, END], [END, -1]]
    assert out["lengths"].tolist() == [2, 1]
    np.testing.assert_allclose(out["log_prob"], np.log([0.5 * 0.7, 0.6]), rtol=1e-6)
    np.testing.assert_allclose(out["attention"], [[[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], [[0.3, 0.3, 0.4], [0, 0, 0]]],
                               rtol=1e-6)
    assert model.calls == 2  # not max_length = 6


def test_beam_search_stops_early_on_the_hand_model():
    # Beam 1: both sentences settle when their <eos> is the best candidate: 2 steps of 6.
    model = hand_model()
    out = numpy_dict(decoding.beam_search(model.step, model.initial_state([0, 1]), START, END, 6, 1))
    assert model.calls == 2 and out["ids"].shape == (2, 1, 2)
    assert out["ids"][:, 0].tolist() == [[0, END], [END, 0]]


def test_a_batch_decodes_like_each_sentence_alone():
    model = Markov.random(40, 3, 5, 4, attention=True)
    masks = np.array([[True, True, True], [True, True, False], [True, False, False]])
    args = dict(start_id=START, end_id=END, max_length=5, beam_size=3, alpha=0.5, beta=0.3)
    batch = numpy_dict(decoding.beam_search(model.step, model.initial_state([0, 1, 2]), source_mask=masks, **args))
    batch_greedy = numpy_dict(decoding.greedy(model.step, model.initial_state([0, 1, 2]), START, END, 5))
    for row in range(3):
        alone = numpy_dict(decoding.beam_search(model.step, model.initial_state([row]), source_mask=masks[row:row + 1],
                                                **args))
        steps = alone["ids"].shape[-1]
        np.testing.assert_array_equal(batch["ids"][row, :, :steps], alone["ids"][0])
        assert (batch["ids"][row, :, steps:] == 0).all()
        np.testing.assert_array_equal(batch["lengths"][row], alone["lengths"][0])
        np.testing.assert_allclose(batch["scores"][row], alone["scores"][0], rtol=1e-6)
        np.testing.assert_allclose(batch["attention"][row, :, :steps], alone["attention"][0], rtol=1e-6)
        greedy = numpy_dict(decoding.greedy(model.step, model.initial_state([row]), START, END, 5))
        steps = greedy["ids"].shape[-1]
        np.testing.assert_array_equal(batch_greedy["ids"][row, :steps], greedy["ids"][0])
        np.testing.assert_allclose(batch_greedy["log_prob"][row], greedy["log_prob"][0], rtol=1e-6)


def nodes(graph_def):
    """Every node of a GraphDef, its functions' (loop bodies, conditions) included."""
    return list(graph_def.node) + [node for f in graph_def.library.function for node in f.node_def]


def gathers(function):
    """GatherV2 ops in a traced function, its loops' bodies included."""
    return sum(node.op == "GatherV2" for node in nodes(function.get_concrete_function().graph.as_graph_def()))


@pytest.mark.parametrize("static_length", [False, True])
def test_beam_search_reorders_only_the_state_a_step_changes(static_length):
    """Markov's step passes `sentence` on as it came: each beam holds its own sentence's row already, so the
    search gathers it neither before the loop nor in it, and finds what it finds when a step copies it."""
    model = Markov.random(41, 3, 5, 4, attention=True)

    def copying(tokens, state):  # the same step, with a new tensor for the entry it passed on
        log_probs, new_state, attention = model.step(tokens, state)
        return log_probs, {**new_state, "sentence": tf.identity(new_state["sentence"])}, attention

    def search(step):
        return tf.function(lambda: decoding.beam_search(step, model.initial_state([0, 1, 2]), START, END, 5, 3,
                                                        alpha=0.5, beta=0.3, static_length=static_length))

    passed_on, copied = search(model.step), search(copying)
    assert gathers(passed_on) == gathers(copied) - 2
    expected = numpy_dict(copied())
    for name, value in numpy_dict(passed_on()).items():
        np.testing.assert_array_equal(value, expected[name])


@pytest.mark.parametrize("decoder", ["greedy", "sample"])
def test_static_length_writes_the_same_tokens_into_max_length_steps(decoder):
    model = Markov.random(41, 3, 6, 5, attention=True, end_bias=1.0)
    state = model.initial_state([0, 1, 2])
    extra = {"temperature": 0.8, "seed": (5, 6)} if decoder == "sample" else {}
    run = getattr(decoding, decoder)
    dynamic = numpy_dict(run(model.step, state, START, END, 6, pad_id=-1, **extra))
    static = numpy_dict(tf.function(lambda: run(model.step, state, START, END, 6, pad_id=-1, static_length=True,
                                                **extra))())
    steps = dynamic["ids"].shape[1]
    assert steps < 6 and static["ids"].shape == (3, 6) and static["attention"].shape == (3, 6, SOURCE)
    np.testing.assert_array_equal(static["ids"][:, :steps], dynamic["ids"])
    assert (static["ids"][:, steps:] == -1).all()
    np.testing.assert_array_equal(static["lengths"], dynamic["lengths"])
    np.testing.assert_allclose(static["log_prob"], dynamic["log_prob"], rtol=1e-6)
    np.testing.assert_allclose(static["attention"][:, :steps], dynamic["attention"], rtol=1e-6)
    assert (static["attention"][:, steps:] == 0).all()


def test_static_beam_search_writes_the_same_n_best_into_max_length_steps():
    model = Markov.random(41, 3, 6, 5, attention=True, end_bias=2.0)
    state = model.initial_state([0, 1, 2])
    args = dict(start_id=START, end_id=END, max_length=8, beam_size=3, alpha=0.5, beta=0.3)
    dynamic = numpy_dict(decoding.beam_search(model.step, state, **args))
    static = numpy_dict(tf.function(lambda: decoding.beam_search(model.step, state, static_length=True, **args))())
    steps = dynamic["ids"].shape[2]
    assert steps < 8 and static["ids"].shape == (3, 3, 8) and static["attention"].shape == (3, 3, 8, SOURCE)
    np.testing.assert_array_equal(static["ids"][:, :, :steps], dynamic["ids"])
    assert (static["ids"][:, :, steps:] == 0).all() and (static["attention"][:, :, steps:] == 0).all()
    for name in ("scores", "lengths", "log_probs"):
        np.testing.assert_allclose(static[name], dynamic[name], rtol=1e-6)
    np.testing.assert_allclose(static["attention"][:, :, :steps], dynamic["attention"], rtol=1e-6)
    with pytest.raises(ValueError, match="static_length needs max_length and beam_size as Python ints"):
        decoding.beam_search(model.step, state, START, END, 6, tf.constant(3), static_length=True)


def test_static_length_needs_a_python_max_length():
    model = Markov.random(42, 1, 3, 4)
    with pytest.raises(ValueError, match="static_length needs max_length as a Python int >= 1"):
        decoding.greedy(model.step, model.initial_state([0]), START, END, tf.constant(3), static_length=True)


def test_decode_feeds_back_continuous_picks_for_max_length_steps():
    """The generic loop over a non-token output (as Graves's handwriting): x_t = 2 x_{t-1} + t, no end."""

    def step(inputs, state):
        return inputs * 2.0, {"count": state["count"] + 1}, None

    def choose(output, t):
        return output + tf.cast(t, tf.float32), -tf.ones(tf.shape(output)[:1])

    first = tf.constant([[1.0, -1.0], [0.5, 0.0]])
    out = numpy_dict(decoding.decode(step, {"count": tf.zeros([2])}, first, 4, choose))
    expected = [[[2, -2], [5, -3], [12, -4], [27, -5]], [[1, 0], [3, 1], [8, 4], [19, 11]]]
    np.testing.assert_allclose(out["outputs"], expected)
    assert out["lengths"].tolist() == [4, 4] and out["log_prob"].tolist() == [-4.0, -4.0]


def test_sampling_is_seeded():
    model = Markov.random(50, 4, 6, 5)
    state = model.initial_state([0, 1, 2, 3])
    first = numpy_dict(decoding.sample(model.step, state, START, END, 6, 1.0, (3, 4)))
    again = numpy_dict(decoding.sample(model.step, state, START, END, 6, 1.0, (3, 4)))
    other = numpy_dict(decoding.sample(model.step, state, START, END, 6, 1.0, (3, 5)))
    np.testing.assert_array_equal(first["ids"], again["ids"])
    assert not np.array_equal(first["ids"], other["ids"])
    for row, length in enumerate(first["lengths"]):  # log_prob is the model's, temperature 1
        tokens = first["ids"][row, :length]
        previous = np.concatenate([[START], tokens[:-1]])
        np.testing.assert_allclose(first["log_prob"][row], model.table[row, np.arange(length), previous, tokens].sum(),
                                   rtol=1e-5)


def test_near_zero_temperature_is_greedy():
    model = Markov.random(51, 4, 6, 5)
    state = model.initial_state([0, 1, 2, 3])
    greedy = decoding.greedy(model.step, state, START, END, 6)["ids"].numpy()
    for seed in range(3):
        drawn = decoding.sample(model.step, state, START, END, 6, 1e-4, (seed, 0))["ids"].numpy()
        np.testing.assert_array_equal(drawn, greedy)


def test_zero_temperature_is_greedy_per_row_and_the_rest_sample():
    model = Markov.random(51, 4, 6, 5)
    state = model.initial_state([0, 1, 2, 3])
    greedy = decoding.greedy(model.step, state, START, END, 6)["ids"].numpy()
    np.testing.assert_array_equal(decoding.sample(model.step, state, START, END, 6, 0.0, (1, 2))["ids"], greedy)
    seeds = np.array([[1, 0], [2, 0], [3, 0], [4, 0]])
    mixed = decoding.sample(model.step, state, START, END, 6, [0.0, 1.0, 0.0, 1.0], seeds)["ids"].numpy()
    np.testing.assert_array_equal(mixed[[0, 2]], greedy[[0, 2]])


def test_a_seed_a_row_makes_each_row_what_it_would_be_alone():
    model = Markov.random(52, 4, 6, 5)
    starts, seeds, temperatures = [0, 1, 2, 3], np.array([[5, 1], [6, 1], [7, 1], [8, 1]]), [1.0, 2.0, 0.5, 1.0]
    batch = decoding.sample(model.step, model.initial_state(starts), START, END, 6, temperatures, seeds)
    for row in range(4):
        alone = decoding.sample(model.step, model.initial_state(starts[row:row + 1]), START, END, 6,
                                temperatures[row:row + 1], seeds[row:row + 1])
        length = int(alone["lengths"][0])
        np.testing.assert_array_equal(batch["ids"].numpy()[row, :length], alone["ids"].numpy()[0, :length])


@pytest.mark.parametrize("temperature, per_row_seeds", [(0.5, False), (2.5, False), (0.5, True)])
def test_sampled_frequencies_follow_the_tempered_distribution(temperature, per_row_seeds):
    model = Markov(np.log([[[[0.5, 0.1, 0.3, 0.1]]]]))  # one step, 4 tokens
    rows = 4000
    state = model.initial_state(np.zeros(rows, np.int32))
    seed = np.stack([np.arange(rows), np.full(rows, 7)], axis=1) if per_row_seeds else (7, 7)
    ids = decoding.sample(model.step, state, START, END, 1, temperature, seed)["ids"]
    frequencies = np.bincount(ids.numpy()[:, 0], minlength=4) / rows
    tempered = np.array([0.5, 0.1, 0.3, 0.1]) ** (1 / temperature)
    tempered /= tempered.sum()
    np.testing.assert_allclose(frequencies, tempered, atol=4 * np.sqrt(0.25 / rows))


@pytest.mark.parametrize("call, message", [
    (lambda m, s: decoding.beam_search(m.step, s, START, END, 3, 0), "beam_size must be >= 1"),
    (lambda m, s: decoding.beam_search(m.step, s, START, END, 0, 2), "max_length must be >= 1"),
    (lambda m, s: decoding.greedy(m.step, s, START, END, 0), "max_length must be >= 1"),
    (lambda m, s: decoding.sample(m.step, s, START, END, 3, float("inf")), "temperature must be finite and >= 0"),
    (lambda m, s: decoding.sample(m.step, s, START, END, 3, -1.0), "temperature must be finite and >= 0"),
])
def test_bad_arguments_are_named(call, message):
    model = Markov.random(60, 1, 3, 3)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(model, model.initial_state([0]))


def test_a_state_without_tensors_is_refused():
    with pytest.raises(ValueError, match="initial_state must hold at least one tensor"):
        decoding.greedy(lambda tokens, state: None, {}, START, END, 3)


def test_coverage_penalty_is_finite_on_zero_coverage_and_skips_padding():
    zero = tf.zeros([2, SOURCE])
    assert decoding.coverage_penalty(zero, 0.0).numpy().tolist() == [0.0, 0.0]  # not 0 * -inf = NaN
    np.testing.assert_allclose(decoding.coverage_penalty(zero, 1.0).numpy(), SOURCE * np.log(np.finfo(np.float32).tiny))
    coverage = tf.constant([[0.5, 2.0, 0.25]])
    np.testing.assert_allclose(decoding.coverage_penalty(coverage, 2.0, [[True, True, False]]).numpy(),
                               [2.0 * np.log(0.5)], rtol=1e-6)


MAX_LENGTH = 5


@pytest.fixture(scope="module")
def served():
    """A tf.Module of the three decoders, traced with dynamic batch, beam size and penalties."""
    model = Markov.random(70, 3, MAX_LENGTH, 4, attention=True)
    sentences = tf.TensorSpec([None], tf.int32, name="sentences")
    module = tf.Module()

    @tf.function(input_signature=[sentences, tf.TensorSpec([], tf.int32, name="max_length"),
                                  tf.TensorSpec([], tf.int32, name="beam_size"),
                                  tf.TensorSpec([], tf.float32, name="alpha"),
                                  tf.TensorSpec([], tf.float32, name="beta"),
                                  tf.TensorSpec([None, SOURCE], tf.bool, name="source_mask")])
    def beam_search(sentences, max_length, beam_size, alpha, beta, source_mask):
        return decoding.beam_search(model.step, model.initial_state(sentences), START, END, max_length, beam_size,
                                    alpha, beta, source_mask)

    @tf.function(input_signature=[sentences, tf.TensorSpec([], tf.int32, name="max_length")])
    def greedy(sentences, max_length):
        return decoding.greedy(model.step, model.initial_state(sentences), START, END, max_length)

    @tf.function(input_signature=[sentences, tf.TensorSpec([], tf.float32, name="temperature"),
                                  tf.TensorSpec([2], tf.int64, name="seed")])
    def sample(sentences, temperature, seed):
        return decoding.sample(model.step, model.initial_state(sentences), START, END, MAX_LENGTH, temperature, seed)

    module.beam_search, module.greedy, module.sample = beam_search, greedy, sample
    return model, module


def beam_inputs(sentences, beam_size, max_length=MAX_LENGTH):
    masks = np.array([[True, True, True], [True, True, False], [True, False, False]])
    return dict(sentences=tf.constant(sentences, tf.int32), max_length=tf.constant(max_length),
                beam_size=tf.constant(beam_size), alpha=tf.constant(0.6), beta=tf.constant(0.4),
                source_mask=tf.constant(masks[sentences]))


def eager_beam_search(model, inputs):
    """The same search with Python numbers for the scalars."""
    return numpy_dict(decoding.beam_search(model.step, model.initial_state(inputs["sentences"]), START, END,
                                           int(inputs["max_length"]), int(inputs["beam_size"]),
                                           float(inputs["alpha"]), float(inputs["beta"]), inputs["source_mask"]))


def assert_same(actual, expected):
    assert actual.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("sentences, beam_size, max_length", [([0, 1, 2], 3, 5), ([2], 2, 5), ([1, 0], 4, 3),
                                                               ([], 2, 5)])
def test_traced_beam_search_takes_any_batch_beam_size_and_length(served, sentences, beam_size, max_length):
    model, module = served
    inputs = beam_inputs(sentences, beam_size, max_length)
    traced = numpy_dict(module.beam_search(**inputs))
    assert traced["ids"].shape[:2] == (len(sentences), beam_size) and traced["ids"].shape[2] <= max_length
    assert_same(traced, eager_beam_search(model, inputs))
    assert module.beam_search.experimental_get_tracing_count() == 1


def test_traced_greedy_and_sample_equal_eager(served):
    model, module = served
    sentences = tf.constant([2, 0, 1])
    assert_same(numpy_dict(module.greedy(sentences, tf.constant(4))),
                numpy_dict(decoding.greedy(model.step, model.initial_state(sentences), START, END, 4)))
    seed = tf.constant([5, 6], tf.int64)
    assert_same(numpy_dict(module.sample(sentences, tf.constant(0.8), seed)),
                numpy_dict(decoding.sample(model.step, model.initial_state(sentences), START, END, MAX_LENGTH, 0.8,
                                           seed)))


def test_traced_on_static_shapes_too():
    # No input_signature: every shape is known when traced, and the loops must
    # still accept the state's and the decoder's shapes as they go.
    model = Markov.random(80, 2, 4, 4, attention=True)
    decoders = [lambda: decoding.beam_search(model.step, model.initial_state([0, 1]), START, END, 4, 3, 0.5, 0.2),
                lambda: decoding.greedy(model.step, model.initial_state([0, 1]), START, END, 4),
                lambda: decoding.sample(model.step, model.initial_state([0, 1]), START, END, 4, 1.0, (1, 2))]
    for decode in decoders:
        assert_same(numpy_dict(tf.function(decode)()), numpy_dict(decode()))


def test_checks_survive_tracing(served):
    _, module = served
    with pytest.raises(tf.errors.InvalidArgumentError, match="beam_size must be >= 1"):
        module.beam_search(**beam_inputs([0], 0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_length must be >= 1"):
        module.greedy(tf.constant([0]), tf.constant(0))
    with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be finite and >= 0"):
        module.sample(tf.constant([0]), tf.constant(-1.0), tf.constant([1, 2], tf.int64))


def test_saved_model_round_trip_with_core_ops_only(served, tmp_path):
    model, module = served
    signatures = {name: getattr(module, name).get_concrete_function() for name in ("beam_search", "greedy", "sample")}
    tf.saved_model.save(module, str(tmp_path), signatures=signatures)

    saved = saved_model_pb2.SavedModel.FromString((tmp_path / "saved_model.pb").read_bytes())
    graph = saved.meta_graphs[0].graph_def
    functions = {f.signature.name for f in graph.library.function}
    ops = {n.op for n in nodes(graph)}
    assert not {op for op in ops - functions if not hasattr(tf.raw_ops, op)}  # no custom op
    assert not ops & {"PyFunc", "PyFuncStateless", "EagerPyFunc"}

    loaded = tf.saved_model.load(str(tmp_path))
    inputs = beam_inputs([1, 2], 3)
    assert_same(numpy_dict(loaded.signatures["beam_search"](**inputs)), eager_beam_search(model, inputs))
    seed = tf.constant([5, 6], tf.int64)
    assert_same(numpy_dict(loaded.signatures["sample"](sentences=tf.constant([0, 1]), temperature=tf.constant(1.0),
                                                        seed=seed)),
                numpy_dict(module.sample(tf.constant([0, 1]), tf.constant(1.0), seed)))


def test_a_keras_recurrent_step_with_attention_traces_like_eager():
    """A real step: embedding → LSTM cell → dot attention over a memory → softmax (states of static width)."""
    keras.utils.set_random_seed(0)
    vocab, units = 11, 8
    embedding, cell = keras.layers.Embedding(vocab, units), keras.layers.LSTMCell(units)
    output = keras.layers.Dense(vocab)

    def step(tokens, state):
        h, c, memory = state
        y, (h, c) = cell(embedding(tokens), [h, c])
        attention = tf.nn.softmax(tf.einsum("bu,bsu->bs", y, memory))
        context = tf.einsum("bs,bsu->bu", attention, memory)
        return tf.nn.log_softmax(output(y + context)), (h, c, memory), attention

    def decode(memory, beam_size):
        zeros = tf.zeros([tf.shape(memory)[0], units])
        return decoding.beam_search(step, (zeros, zeros, memory), 3, END, 6, beam_size, 0.6, 0.2)

    traced = tf.function(decode, input_signature=[tf.TensorSpec([None, SOURCE, units]), tf.TensorSpec([], tf.int32)])
    memory = tf.random.stateless_normal([3, SOURCE, units], (1, 2))
    for rows, beam_size in [(3, 4), (1, 2)]:
        assert_same(numpy_dict(traced(memory[:rows], beam_size)), numpy_dict(decode(memory[:rows], beam_size)))
