"""In-graph decoders for sequence-to-sequence models: greedy, sampling and GNMT beam search.

Every decoder drives a model through one step function

    step_fn(tokens, state) -> (log_probs, new_state, attention)

- `tokens` int32 `[rows]`: the previous token of each row (`start_id` first);
- `state`: any nest of tensors whose leading dimension is `rows`; `new_state`
  has the same structure and shapes (only the leading dimension may be unknown);
- `log_probs` float `[rows, vocab]`: normalised log-probabilities of the next token;
- `attention` float `[rows, source_length]`: the attention probabilities of this
  step, or `None` for a model without attention.

The decoders call it with `rows = batch` (greedy, sample) or `rows = batch *
beam_size`, row `b * beam_size + k` being beam k of sentence b. `initial_state`
must hold at least one tensor: its leading dimension is the batch size, which
may be unknown until run time.

Everything is TensorFlow ops (`tf.while_loop`, `tf.TensorArray`, stateless
random ops): the decoders trace into a `tf.function` with an `input_signature`
of dynamic batch, and a SavedModel that calls them runs in stock TF Serving.
`step_fn` is called once before the loop (its outputs tell whether the model
has attention) and once per further step in the loop, so it is called exactly
once per generated position.

Beam search ranks hypotheses with the scoring function of Wu et al. 2016,
"Google's Neural Machine Translation System" (arXiv 1609.08144), §7:

    s(Y, X)  = log P(Y|X) / lp(Y) + cp(X; Y)
    lp(Y)    = (5 + |Y|)^α / (5 + 1)^α
    cp(X; Y) = β · Σ_{i=1..|X|} log(min(Σ_{j=1..|Y|} p_{i,j}, 1.0))

|Y| counts every generated token, `<eos>` included; p_{i,j} is the attention
probability of target word j on source word i, i.e. the attention of the step
that predicted word j; the sum over i runs over real source words only (the
`source_mask`). Without attention cp = 0.

What stops the loop:

- greedy and sample: `max_length` tokens, or every row has produced `end_id`;
- beam search: `max_length` tokens, or, for every sentence of the batch, either
  no live hypothesis is left or `beam_size` hypotheses are finished and no
  live one can reach a score above the worst of them (see `beam_search`: the
  rule never changes the result).
"""

import numpy as np
import tensorflow as tf

# The coverage Σ_j p_{i,j} is floored at the smallest normal float32 before
# the log: a source word with exactly zero attention then costs β·log(1.2e-38)
# ≈ -87.3·β instead of -inf, and β = 0 gives cp = 0 instead of 0·(-inf) = NaN.
_COVERAGE_FLOOR = float(np.finfo(np.float32).tiny)


def length_penalty(length, alpha):
    """lp(Y) = (5 + |Y|)^α / (5 + 1)^α (GNMT §7); `length` = |Y| counts the `<eos>`."""
    return tf.pow((5.0 + tf.cast(length, tf.float32)) / 6.0, tf.cast(alpha, tf.float32))


def coverage_penalty(coverage, beta, source_mask=None):
    """cp(X; Y) = β · Σ_i log(min(Σ_j p_{i,j}, 1.0)) (GNMT §7).

    Args:
        coverage: float `[..., source_length]`, Σ_j p_{i,j}: the attention each
            source word has received so far.
        beta: β, Python number or scalar tensor.
        source_mask: bool or 0/1 `[..., source_length]` (broadcast against
            `coverage`), true for real source words; padding contributes 0.

    Returns:
        float `[...]`. Coverage below the smallest normal float32 counts as
        that value, so the penalty is finite and β = 0 gives exactly 0.
    """
    terms = tf.math.log(tf.clip_by_value(coverage, _COVERAGE_FLOOR, 1.0))
    if source_mask is not None:
        terms = tf.where(tf.cast(source_mask, tf.bool), terms, 0.0)
    return tf.cast(beta, tf.float32) * tf.reduce_sum(terms, axis=-1)


def greedy(step_fn, initial_state, start_id, end_id, max_length, pad_id=0):
    """Greedy decoding: the most probable token at each step (the first one on a tie).

    Args:
        step_fn, initial_state: the model (see the module docstring).
        start_id: int, scalar or `[batch]`: the first input token.
        end_id: int scalar, the `<eos>` id.
        max_length: int ≥ 1, Python or scalar tensor: most tokens per row, `<eos>` included.
        pad_id: int scalar written after a row's `<eos>`; need not be a token of the
            model, which is fed `end_id` for the rows that have ended.

    Returns:
        dict: `ids` int32 `[batch, T]`, T ≤ max_length the number of steps run;
        `lengths` int32 `[batch]` (tokens up to and including `<eos>`);
        `log_prob` float32 `[batch]`, log P of those tokens; and, when the model
        has attention, `attention` float32 `[batch, T, source_length]` (zero after the end).
    """
    return _decode_rows(step_fn, initial_state, start_id, end_id, max_length, pad_id,
                        lambda log_probs, t: tf.argmax(log_probs, axis=-1, output_type=tf.int32))


def sample(step_fn, initial_state, start_id, end_id, max_length, temperature=1.0, seed=(0, 0), pad_id=0):
    """Samples each token from softmax(log_probs / temperature).

    Random numbers come from stateless ops seeded by `seed` folded with the step,
    so the same seed, batch and model give the same tokens, in eager mode, in a
    `tf.function` and in a SavedModel alike (a row's draws depend on the whole
    batch's shape). temperature → 0 approaches greedy.

    Args:
        step_fn, initial_state, start_id, end_id, max_length, pad_id: as in `greedy`.
        temperature: float > 0, Python or scalar tensor.
        seed: int32 or int64 `[2]`.

    Returns:
        The dict of `greedy`; `log_prob` is the model's log P of the drawn tokens
        (temperature 1), so it scores the sequence under the model itself.
    """
    temperature = tf.cast(temperature, tf.float32)
    with tf.control_dependencies([tf.debugging.assert_positive(temperature, message="temperature must be > 0")]):
        temperature = tf.identity(temperature)
    seed = tf.convert_to_tensor(seed)

    def draw(log_probs, t):
        seed_t = tf.random.experimental.stateless_fold_in(seed, t)
        return tf.random.stateless_categorical(log_probs / temperature, 1, seed_t, dtype=tf.int32)[:, 0]

    return _decode_rows(step_fn, initial_state, start_id, end_id, max_length, pad_id, draw)


def beam_search(step_fn, initial_state, start_id, end_id, max_length, beam_size, alpha=0.0, beta=0.0,
                source_mask=None, pad_id=0):
    """Beam search with GNMT's length and coverage penalties (module docstring).

    The search keeps two sets per sentence, each of at most `beam_size`:

    - live hypotheses, not ended. Each step extends every live one by every
      token (beam_size × vocab candidates), each candidate scored s(Y, X) at
      its current length;
    - finished hypotheses, with their final score: a candidate that ends in
      `end_id`, or reaches `max_length` without it ("scored as it is"), joins
      them if it is among the `beam_size` best candidates of its step; only
      the `beam_size` best finished are kept. The live set is then refilled
      with the `beam_size` best candidates that did not end.

    With beam_size 1 and α = β = 0 this is greedy decoding. Ties go to the
    lower index: the earlier beam, the lower token id, the hypothesis finished
    first.

    Early stopping. After a step, a sentence is settled when no live hypothesis
    is left, or when `beam_size` are finished and, for every live one with
    log-probability L and coverage penalty c at length n,

        L / max(lp(n + 1), lp(max_length)) + max(c, 0)  ≤  the worst finished score.

    The left side bounds the score of every extension of that hypothesis:
    extending adds log-probabilities ≤ 0 and attention ≥ 0, so L only falls,
    the coverage only grows (cp stays ≤ 0 for β ≥ 0 and only falls for
    β < 0), and lp is monotonic in the length, so its largest value on
    [n + 1, max_length] is at an end. No later candidate can then enter the
    finished set (a tie keeps the one already there), so stopping gives exactly
    the result of running to `max_length`, in float32 too as each operation
    rounds monotonically. Conditions: `log_probs` ≤ 0 and `attention` ≥ 0, which
    a log-softmax and a softmax give. The loop stops when every sentence is settled.

    Args:
        step_fn, initial_state, start_id, end_id, max_length, pad_id: as in `greedy`.
        beam_size: int ≥ 1, Python or scalar tensor (dynamic in the graph).
        alpha: α of lp, Python number or scalar tensor; 0 means no length normalisation.
        beta: β of cp, Python number or scalar tensor; 0 means no coverage penalty.
        source_mask: bool or 0/1 `[batch, source_length]`, true for real source
            words; None = all real. Unused when the model has no attention.

    Returns:
        The n-best list, best first, as a dict: `ids` int32 `[batch, beam_size, T]`
        (T ≤ max_length the number of steps run, `pad_id` after the end),
        `scores` float32 `[batch, beam_size]` = s(Y, X), `lengths` int32
        `[batch, beam_size]` (with `<eos>`), `log_probs` float32 `[batch, beam_size]`
        = log P(Y|X), and, when the model has attention, `attention` float32
        `[batch, beam_size, T, source_length]`, p_{i,j} of each hypothesis
        (zero after its end). A hypothesis of probability 0 (a token whose
        log-probability is -inf) is never returned: when fewer than `beam_size`
        others exist (a tiny vocabulary and `max_length`), the missing entries
        have length 0, score and log-probability -inf, and only padding.
    """
    max_length = _at_least_one(max_length, "max_length")
    beam_size = _at_least_one(beam_size, "beam_size")
    alpha = tf.cast(alpha, tf.float32)
    beta = tf.cast(beta, tf.float32)
    end_id = tf.cast(end_id, tf.int32)
    batch = _batch_size(initial_state)
    if source_mask is not None:
        source_mask = tf.cast(source_mask, tf.bool)[:, None, :]  # against [batch, beam, source_length]

    def advance(n, log_probs, attention, alive, finished, history):
        """Step n (0-based) from the live set: the new tokens, their parent slots and the new sets."""
        vocab = tf.shape(log_probs)[-1]
        log_prob = alive["log_prob"][:, :, None] + tf.reshape(tf.cast(log_probs, tf.float32), [batch, beam_size, vocab])
        score = log_prob / length_penalty(n + 1, alpha)
        if attention is not None:
            attention = tf.reshape(tf.cast(attention, tf.float32), [batch, beam_size, -1])
            coverage = alive["coverage"] + attention
            # All extensions of a beam share this step's attention, hence its coverage.
            score += coverage_penalty(coverage, beta, source_mask)[:, :, None]
        ends = tf.logical_or(tf.equal(tf.range(vocab), end_id), n + 1 >= max_length)  # [vocab]

        def flat(x):  # [batch, beam, vocab] -> [batch, beam * vocab]
            return tf.reshape(x, [batch, -1])

        # Before the last step at most beam_size candidates end (one <eos> a
        # beam), so the 2 * beam_size best hold the beam_size best that go on.
        top_score, top = tf.math.top_k(flat(score), tf.minimum(2 * beam_size, beam_size * vocab))
        top = {"score": top_score, "log_prob": tf.gather(flat(log_prob), top, batch_dims=1),
               "token": top % vocab, "parent": top // vocab}
        top_ends = tf.gather(ends, top["token"])
        first = {name: x[:, :beam_size] for name, x in top.items()}
        kept = tf.logical_and(top_ends[:, :beam_size], first["score"] > -np.inf)
        new_finished = {"score": tf.where(kept, first["score"], -np.inf),
                        "log_prob": tf.where(kept, first["log_prob"], -np.inf),
                        "end": tf.where(kept, n, -1), "token": first["token"], "parent": first["parent"]}
        # The finished set goes first: on a tie, the hypothesis already there stays.
        merged = tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=1), finished, new_finished)
        _, best = tf.math.top_k(merged["score"], beam_size)
        finished = tf.nest.map_structure(lambda x: tf.gather(x, best, batch_dims=1), merged)

        live_score, pick = tf.math.top_k(tf.where(top_ends, -np.inf, top["score"]), beam_size)
        token, parent = tf.gather(top["token"], pick, batch_dims=1), tf.gather(top["parent"], pick, batch_dims=1)
        # A slot with nothing left to put in it (score -inf) is empty: log-probability -inf.
        alive = {"log_prob": tf.where(live_score > -np.inf, tf.gather(top["log_prob"], pick, batch_dims=1), -np.inf)}
        history = {**history, "tokens": history["tokens"].write(n, token),
                   "parents": history["parents"].write(n, parent)}
        if attention is not None:
            alive["coverage"] = tf.gather(coverage, parent, batch_dims=1)
            history["attention"] = history["attention"].write(n, attention)
        return token, parent, alive, finished, history

    def settled(n, alive, finished):
        """Whether every sentence is settled after n steps, by the early-stopping rule above."""
        longest = tf.maximum(length_penalty(n + 1, alpha), length_penalty(max_length, alpha))
        bound = alive["log_prob"] / longest  # -inf for an empty slot
        if "coverage" in alive:
            bound += tf.maximum(coverage_penalty(alive["coverage"], beta, source_mask), 0.0)
        best_live = tf.reduce_max(bound, axis=1)
        worst_finished = tf.reduce_min(finished["score"], axis=1)
        full = tf.reduce_all(finished["score"] > -np.inf, axis=1)
        no_live = tf.reduce_all(tf.equal(alive["log_prob"], -np.inf), axis=1)
        return tf.reduce_all(tf.logical_or(no_live, tf.logical_and(full, best_live <= worst_finished)))

    def reorder(state, parent):
        """The model state of each new live hypothesis: its parent's row."""
        rows = tf.reshape(tf.range(batch)[:, None] * beam_size + parent, [-1])
        return tf.nest.map_structure(lambda x: tf.gather(x, rows), state)

    tokens = tf.repeat(tf.broadcast_to(tf.cast(start_id, tf.int32), [batch]), beam_size)
    state = tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), initial_state)
    log_probs, state, attention = step_fn(tokens, state)
    # The beams start as copies of one hypothesis, <start>: only the first is
    # live, or each candidate would be there beam_size times.
    alive = {"log_prob": tf.where(tf.range(beam_size) == 0, tf.zeros([batch, beam_size]), -np.inf)}
    finished = {"score": tf.fill([batch, beam_size], -np.inf),
                "log_prob": tf.fill([batch, beam_size], -np.inf), "end": tf.fill([batch, beam_size], -1),
                "token": tf.zeros([batch, beam_size], tf.int32), "parent": tf.zeros([batch, beam_size], tf.int32)}
    history = {"tokens": _growing(tf.int32), "parents": _growing(tf.int32)}
    if attention is not None:
        alive["coverage"] = tf.zeros([batch, beam_size, tf.shape(attention)[-1]])
        history["attention"] = _growing(tf.float32)
    token, parent, alive, finished, history = advance(0, log_probs, attention, alive, finished, history)
    state = reorder(state, parent)

    def body(n, token, state, alive, finished, history):
        log_probs, state, attention = step_fn(tf.reshape(token, [-1]), state)
        token, parent, alive, finished, history = advance(n, log_probs, attention, alive, finished, history)
        return n + 1, token, reorder(state, parent), alive, finished, history

    def more(n, token, state, alive, finished, history):
        return tf.logical_and(n < max_length, tf.logical_not(settled(n, alive, finished)))

    loop_vars = (tf.constant(1), token, state, alive, finished, history)
    _, _, _, _, finished, history = tf.while_loop(more, body, loop_vars, shape_invariants=_invariants(loop_vars))
    return {**_backtrack(finished, history, pad_id), "scores": finished["score"],
            "lengths": finished["end"] + 1, "log_probs": finished["log_prob"]}


def _backtrack(finished, history, pad_id):
    """`ids` `[batch, beam, T]` (and `attention` `[batch, beam, T, source]`) of the finished hypotheses.

    The loop stores, per step, each live hypothesis's token and parent slot;
    a finished one stores its last step, token and parent. Walking the steps
    backwards from each one's end follows its parents to the first token.
    """
    end = finished["end"]  # -1 for an empty entry: all padding
    has_attention = "attention" in history
    steps = (tf.range(history["tokens"].size()), history["tokens"].stack(), history["parents"].stack())
    if has_attention:
        steps += (history["attention"].stack(),)

    def back(walked, step):
        slot = walked[0]  # each hypothesis's live slot after step n
        n, tokens, parents, *attention = step
        at_end = tf.equal(end, n)
        token = tf.where(at_end, finished["token"], tf.gather(tokens, slot, batch_dims=1))
        parent = tf.where(at_end, finished["parent"], tf.gather(parents, slot, batch_dims=1))
        inside = end >= n
        walked = (parent, tf.where(inside, token, pad_id))
        if has_attention:  # step n's attention sits in the parent's slot
            walked += (tf.where(inside[:, :, None], tf.gather(attention[0], parent, batch_dims=1), 0.0),)
        # tf.scan wants the static shapes it started with; the gathers can lose some.
        return tuple(tf.ensure_shape(x, shape) for x, shape in zip(walked, shapes))

    initial = (tf.zeros_like(end), tf.zeros_like(end))
    if has_attention:
        initial += (tf.zeros_like(steps[3][0]),)
    shapes = [x.shape for x in initial]
    walked = tf.scan(back, steps, initial, reverse=True)
    out = {"ids": tf.transpose(walked[1], [1, 2, 0])}
    if has_attention:
        out["attention"] = tf.transpose(walked[2], [1, 2, 0, 3])
    return out


def _decode_rows(step_fn, initial_state, start_id, end_id, max_length, pad_id, choose):
    """Greedy or sampled decoding: `choose(log_probs, step)` picks each row's next token."""
    max_length = _at_least_one(max_length, "max_length")
    end_id = tf.cast(end_id, tf.int32)
    pad_id = tf.cast(pad_id, tf.int32)
    batch = _batch_size(initial_state)

    def advance(t, log_probs, attention, rows, history):
        log_probs = tf.cast(log_probs, tf.float32)
        ended = rows["ended"]
        chosen = choose(log_probs, t)
        token = tf.where(ended, pad_id, chosen)
        rows = {"ended": tf.logical_or(ended, tf.equal(token, end_id)),
                "length": rows["length"] + tf.cast(tf.logical_not(ended), tf.int32),
                "log_prob": rows["log_prob"] + tf.where(ended, 0.0, tf.gather(log_probs, chosen, batch_dims=1))}
        history = {**history, "ids": history["ids"].write(t, token)}
        if attention is not None:
            history["attention"] = history["attention"].write(
                t, tf.where(ended[:, None], 0.0, tf.cast(attention, tf.float32)))
        # Ended rows are fed <eos>, a token the model knows (pad_id may not be); their outputs go unused.
        return tf.where(rows["ended"], end_id, chosen), rows, history

    log_probs, state, attention = step_fn(tf.broadcast_to(tf.cast(start_id, tf.int32), [batch]), initial_state)
    rows = {"ended": tf.zeros([batch], tf.bool), "length": tf.zeros([batch], tf.int32),
            "log_prob": tf.zeros([batch])}
    history = {"ids": _growing(tf.int32)}
    if attention is not None:
        history["attention"] = _growing(tf.float32)
    token, rows, history = advance(0, log_probs, attention, rows, history)

    def body(t, token, state, rows, history):
        log_probs, state, attention = step_fn(token, state)
        token, rows, history = advance(t, log_probs, attention, rows, history)
        return t + 1, token, state, rows, history

    def more(t, token, state, rows, history):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(rows["ended"])))

    loop_vars = (tf.constant(1), token, state, rows, history)
    _, _, _, rows, history = tf.while_loop(more, body, loop_vars, shape_invariants=_invariants(loop_vars))
    out = {"ids": tf.transpose(history["ids"].stack()), "lengths": rows["length"], "log_prob": rows["log_prob"]}
    if attention is not None:
        out["attention"] = tf.transpose(history["attention"].stack(), [1, 0, 2])
    return out


def _growing(dtype):
    """A TensorArray with one element per step, as many as the loop runs."""
    return tf.TensorArray(dtype, size=0, dynamic_size=True)


def _invariants(loop_vars):
    """Shape invariants of `(step, tokens, model state, *decoder's own)` loop variables.

    The model state may change its leading (rows) dimension only; the
    decoder's tensors any dimension: their static sizes differ between the
    step before the loop and the loop when the batch or beam size is dynamic.
    """
    step, tokens, state, *search = loop_vars

    def any_shape(x):
        return None if isinstance(x, tf.TensorArray) else tf.TensorShape([None] * x.shape.rank)

    def any_rows(x):
        return tf.TensorShape([None]).concatenate(x.shape[1:])

    return (any_shape(step), any_shape(tokens), tf.nest.map_structure(any_rows, state),
            *tf.nest.map_structure(any_shape, search))


def _at_least_one(value, name):
    """`value` as an int32 scalar that carries a check `value >= 1` naming `name`."""
    value = tf.cast(value, tf.int32)
    with tf.control_dependencies([tf.debugging.assert_greater_equal(value, 1, message=f"{name} must be >= 1")]):
        return tf.identity(value)


def _batch_size(state):
    tensors = tf.nest.flatten(state)
    if not tensors:
        raise ValueError("initial_state must hold at least one tensor: its leading dimension is the batch size")
    return tf.shape(tensors[0])[0]
