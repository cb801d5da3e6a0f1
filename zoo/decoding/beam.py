"""GNMT beam search: several hypotheses a row, ranked with length normalisation and a coverage penalty.

Beam search ranks hypotheses with the scoring function of Wu et al. 2016,
"Google's Neural Machine Translation System" (arXiv 1609.08144), §7:

    s(Y, X)  = log P(Y|X) / lp(Y) + cp(X; Y)
    lp(Y)    = (5 + |Y|)^α / (5 + 1)^α
    cp(X; Y) = β · Σ_{i=1..|X|} log(min(Σ_{j=1..|Y|} p_{i,j}, 1.0))

|Y| counts every generated token, `<eos>` included; p_{i,j} is the attention
probability of target word j on source word i, i.e. the attention of the step
that predicted word j; the sum over i runs over real source words only (the
`source_mask`). Without attention cp = 0.

The step function is the one of `zoo.decoding` (package docstring).
"""

import numpy as np
import tensorflow as tf

from zoo.decoding.tensors import at_least_one, batch_size_of, loop_invariants, stacked, step_history, write_step
from zoo.text.reserved import PAD_ID

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


def beam_search(step_fn, initial_state, start_id, end_id, max_length, beam_size, alpha=0.0, beta=0.0,
                source_mask=None, pad_id=PAD_ID, static_length=False):
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
        static_length: keep every shape static, for TFLite: `max_length` and
            `beam_size` are Python ints, the steps are written into
            `[max_length, ...]` tensors (as `zoo.decoding.decode`'s mode),
            and T = `max_length`. Early stopping still ends the loop.

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
    if static_length:
        if not (isinstance(max_length, int) and isinstance(beam_size, int) and max_length >= 1 and beam_size >= 1):
            raise ValueError(f"static_length needs max_length and beam_size as Python ints >= 1, got {max_length!r}, "
                             f"{beam_size!r}")
    else:
        max_length = at_least_one(max_length, "max_length")
        beam_size = at_least_one(beam_size, "beam_size")
    alpha = tf.cast(alpha, tf.float32)
    beta = tf.cast(beta, tf.float32)
    end_id = tf.cast(end_id, tf.int32)
    batch = batch_size_of(initial_state)
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
        history = {**history, "tokens": write_step(history["tokens"], n, token),
                   "parents": write_step(history["parents"], n, parent)}
        if attention is not None:
            alive["coverage"] = tf.gather(coverage, parent, batch_dims=1)
            history["attention"] = write_step(history["attention"], n, attention)
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

    def reorder(state, new_state, parent):
        """The model state of each new live hypothesis: its parent's row of `new_state`.

        An entry that every step so far passed on unchanged (the same tensor, e.g. the encoder's outputs) still
        holds the same row in every beam of a sentence, as the repeat below made it: gathering it would copy
        `[rows, ...]` a step for nothing (GNMT's encoder outputs and attention keys, `[rows, S, units]` each).
        """
        rows = tf.reshape(tf.range(batch)[:, None] * beam_size + parent, [-1])
        return tf.nest.map_structure(lambda old, new, fixed: new if fixed and new is old else tf.gather(new, rows),
                                     state, new_state, passed_on)

    tokens = tf.repeat(tf.broadcast_to(tf.cast(start_id, tf.int32), [batch]), beam_size)
    state = tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), initial_state)
    log_probs, new_state, attention = step_fn(tokens, state)
    passed_on = tf.nest.map_structure(lambda old, new: new is old, state, new_state)
    # The beams start as copies of one hypothesis, <start>: only the first is
    # live, or each candidate would be there beam_size times.
    alive = {"log_prob": tf.where(tf.range(beam_size) == 0, tf.zeros([batch, beam_size]), -np.inf)}
    finished = {"score": tf.fill([batch, beam_size], -np.inf),
                "log_prob": tf.fill([batch, beam_size], -np.inf), "end": tf.fill([batch, beam_size], -1),
                "token": tf.zeros([batch, beam_size], tf.int32), "parent": tf.zeros([batch, beam_size], tf.int32)}
    steps = static_length and max_length
    slots = tf.zeros([batch, beam_size], tf.int32)
    history = {"tokens": step_history(slots, 0, steps), "parents": step_history(slots, 0, steps)}
    if attention is not None:
        alive["coverage"] = tf.zeros([batch, beam_size, tf.shape(attention)[-1]])
        history["attention"] = step_history(alive["coverage"], 0.0, steps)
    token, parent, alive, finished, history = advance(0, log_probs, attention, alive, finished, history)
    state = reorder(state, new_state, parent)

    def body(n, token, state, alive, finished, history):
        log_probs, new_state, attention = step_fn(tf.reshape(token, [-1]), state)
        token, parent, alive, finished, history = advance(n, log_probs, attention, alive, finished, history)
        new = (n + 1, token, reorder(state, new_state, parent), alive, finished, history)
        if not static_length:
            return new
        # Gathers lose static dimensions; a static loop must keep the shapes it started with (a reshape, as
        # TFLite has no EnsureShape).
        return tf.nest.map_structure(lambda x, old: tf.reshape(x, old.shape), new, loop_vars)

    def more(n, token, state, alive, finished, history):
        return tf.logical_and(n < max_length, tf.logical_not(settled(n, alive, finished)))

    loop_vars = (tf.constant(1), token, state, alive, finished, history)
    invariants = None if static_length else loop_invariants(loop_vars)
    _, _, _, _, finished, history = tf.while_loop(more, body, loop_vars, shape_invariants=invariants)
    return {**_backtrack(finished, history, pad_id), "scores": finished["score"],
            "lengths": finished["end"] + 1, "log_probs": finished["log_prob"]}


def _backtrack(finished, history, pad_id):
    """`ids` `[batch, beam, T]` (and `attention` `[batch, beam, T, source]`) of the finished hypotheses.

    The loop stores, per step, each live hypothesis's token and parent slot;
    a finished one stores its last step, token and parent. Walking the steps
    backwards from each one's end follows its parents to the first token
    (steps after an end only set the walk's slot, which the end resets).
    """
    end = finished["end"]  # -1 for an empty entry: all padding
    has_attention = "attention" in history
    # Static histories hold max_length steps; those after the loop stopped lie past every end, never read.
    tokens = stacked(history["tokens"])
    steps = (tf.range(tf.shape(tokens)[0]), tokens, stacked(history["parents"]))
    if has_attention:
        steps += (stacked(history["attention"]),)

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


