"""The one loop every generator of the zoo runs (`decode`), and greedy and sampled token decoding over it.

The step function is the one of `zoo.decoding` (package docstring); `decode`
also takes outputs other than token log-probabilities (pen offsets).
"""

import numpy as np
import tensorflow as tf

from zoo.decoding.tensors import at_least_one, batch_size_of, loop_invariants, stacked, step_history, write_step
from zoo.text.reserved import PAD_ID


def decode(step_fn, initial_state, first_input, max_length, choose, is_end=None, pad_value=0,
           static_length=False):
    """The loop every generator runs: each row feeds back what `choose` picks from the step's output.

    Step t (from 0) calls `step_fn(inputs, state) -> (output, new_state,
    attention)` on the previous picks (`first_input` at t = 0), then
    `choose(output, t) -> (picked [rows, ...], log_prob [rows])`. A row ends
    with the step where `is_end(output, picked)` is true (its pick is kept);
    from then on it is fed its last pick again (a token the model knows), and
    `pad_value` is written in its place.

    Args:
        step_fn, initial_state: the model (package docstring); `output` may
            be any nest and the picks any `[rows, ...]` tensor, e.g. pen offsets.
        first_input: `[batch, ...]`, what step 0 reads.
        max_length: int ≥ 1, Python or scalar tensor: most steps per row.
        choose: `(output, t) -> (picked, log_prob)`.
        is_end: `(output, picked) -> bool [rows]`, e.g. the pick is `<eos>`;
            None: every row runs `max_length` steps.
        pad_value: written after a row's end.
        static_length: write into tensors of `max_length` steps (a Python
            int) instead of growing TensorArrays, for TFLite.

    Returns:
        dict: `outputs` `[batch, T, ...]` (the picks, `pad_value` after the
        end; T = the steps run, or `max_length` with `static_length`);
        `lengths` int32 `[batch]` (picks up to and including the end);
        `ended` bool `[batch]`, false for the rows that ran out of steps;
        `log_prob` float32 `[batch]`, the sum of those picks' log-probabilities;
        and, when the model has attention, `attention` float32 `[batch, T,
        source_length]` (zero after the end).
    """
    if static_length:
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(f"static_length needs max_length as a Python int >= 1, got {max_length!r}")
    else:
        max_length = at_least_one(max_length, "max_length")
    batch = batch_size_of(initial_state)

    def advance(t, output, attention, previous, rows, history):
        picked, log_prob = choose(output, t)
        if history is None:  # the step before the loop: its picks tell the shapes to keep
            history = {"outputs": step_history(picked, pad_value, static_length and max_length)}
            if attention is not None:
                history["attention"] = step_history(tf.cast(attention, tf.float32), 0.0, static_length and max_length)
        ended = rows["ended"]
        now_ended = ended if is_end is None else tf.logical_or(ended, is_end(output, picked))
        rows = {"ended": now_ended, "length": rows["length"] + tf.cast(tf.logical_not(ended), tf.int32),
                "log_prob": rows["log_prob"] + tf.where(ended, 0.0, tf.cast(log_prob, tf.float32))}
        history = {**history, "outputs": write_step(history["outputs"], t, _where_rows(ended, pad_value, picked))}
        if attention is not None:
            history["attention"] = write_step(history["attention"], t,
                                          _where_rows(ended, 0.0, tf.cast(attention, tf.float32)))
        return _where_rows(ended, previous, picked), rows, history

    output, state, attention = step_fn(first_input, initial_state)
    rows = {"ended": tf.zeros([batch], tf.bool), "length": tf.zeros([batch], tf.int32),
            "log_prob": tf.zeros([batch])}
    inputs, rows, history = advance(0, output, attention, first_input, rows, None)

    def body(t, inputs, state, rows, history):
        output, state, attention = step_fn(inputs, state)
        inputs, rows, history = advance(t, output, attention, inputs, rows, history)
        return t + 1, inputs, state, rows, history

    def more(t, inputs, state, rows, history):
        return tf.logical_and(t < max_length, tf.logical_not(tf.reduce_all(rows["ended"])))

    loop_vars = (tf.constant(1), inputs, state, rows, history)
    # A static loop keeps every shape as it is, which TFLite needs; a dynamic one lets batch and time vary.
    invariants = None if static_length else loop_invariants(loop_vars)
    _, _, _, rows, history = tf.while_loop(more, body, loop_vars, shape_invariants=invariants)
    out = {name: _batch_major(stacked(x)) for name, x in history.items()}
    return {**out, "lengths": rows["length"], "ended": rows["ended"], "log_prob": rows["log_prob"]}


def greedy(step_fn, initial_state, start_id, end_id, max_length, pad_id=PAD_ID, static_length=False):
    """Greedy decoding: the most probable token at each step (the first one on a tie).

    Args:
        step_fn, initial_state: the model (see the package docstring).
        start_id: int, scalar or `[batch]`: the first input token.
        end_id: int scalar, the `<eos>` id; None: rows never end before `max_length`.
        max_length: int ≥ 1, Python or scalar tensor: most tokens per row, `<eos>` included.
        pad_id: int scalar written after a row's `<eos>`; need not be a token of the
            model, which is fed `end_id` for the rows that have ended.
        static_length: see `decode` (TFLite).

    Returns:
        dict: `ids` int32 `[batch, T]`, T ≤ max_length the number of steps run
        (T = max_length with `static_length`); `lengths` int32 `[batch]`
        (tokens up to and including `<eos>`); `log_prob` float32 `[batch]`,
        log P of those tokens; and, when the model has attention, `attention`
        float32 `[batch, T, source_length]` (zero after the end).
    """

    def most_probable(log_probs, t):
        return _pick_token(log_probs, tf.argmax(log_probs, axis=-1, output_type=tf.int32))

    return _decode_tokens(step_fn, initial_state, start_id, end_id, max_length, pad_id, most_probable,
                          static_length)


def sample(step_fn, initial_state, start_id, end_id, max_length, temperature=1.0, seed=(0, 0), pad_id=PAD_ID,
           static_length=False):
    """Samples each token from softmax(log_probs / temperature); temperature 0 is greedy (argmax).

    Random numbers come from stateless ops seeded by `seed` folded with the
    step, so the same seed and model give the same tokens, in eager mode, in a
    `tf.function` and in a SavedModel alike. With one seed `[2]` for the
    batch, a row's draws depend on the batch's shape too; with a seed a row
    `[batch, 2]`, on its own seed only (Gumbel-max sampling), so a row is
    written as it would be alone.

    Args:
        step_fn, initial_state, start_id, end_id, max_length, pad_id, static_length: as in `greedy`.
        temperature: float ≥ 0 and finite, a number or `[batch]` (a row's own).
        seed: int32 or int64 `[2]`, or `[batch, 2]`.

    Returns:
        The dict of `greedy`; `log_prob` is the model's log P of the drawn tokens
        (temperature 1), so it scores the sequence under the model itself.
    """
    temperature = tf.cast(temperature, tf.float32)
    with tf.control_dependencies([tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(temperature) & (temperature >= 0.0)),
            ["temperature must be finite and >= 0, got", temperature])]):
        temperature = tf.identity(temperature)
    seed = tf.convert_to_tensor(seed)
    # Per row: [rows, 1], so that it divides each row's log-probabilities.
    row_temperature = temperature if temperature.shape.rank == 0 else temperature[:, None]

    def draw(log_probs, t):
        scaled = log_probs / tf.where(row_temperature > 0.0, row_temperature, 1.0)
        if seed.shape.rank == 2:
            uniform = tf.map_fn(lambda row_seed: tf.random.stateless_uniform(
                tf.shape(log_probs)[1:], tf.random.experimental.stateless_fold_in(row_seed, t),
                minval=np.finfo(np.float32).tiny), seed, fn_output_signature=tf.float32)
            drawn = tf.argmax(scaled - tf.math.log(-tf.math.log(uniform)), axis=-1, output_type=tf.int32)
        else:
            seed_t = tf.random.experimental.stateless_fold_in(seed, t)
            drawn = tf.random.stateless_categorical(scaled, 1, seed_t, dtype=tf.int32)[:, 0]
        most_probable = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        return _pick_token(log_probs, tf.where(tf.reshape(row_temperature > 0.0, [-1]), drawn, most_probable))

    return _decode_tokens(step_fn, initial_state, start_id, end_id, max_length, pad_id, draw, static_length)


def _decode_tokens(step_fn, initial_state, start_id, end_id, max_length, pad_id, choose, static_length):
    """`decode` over tokens: every row starts from `start_id`; `outputs` are the `ids`."""
    first = tf.broadcast_to(tf.cast(start_id, tf.int32), [batch_size_of(initial_state)])
    is_end = None if end_id is None else lambda output, token: tf.equal(token, tf.cast(end_id, tf.int32))
    out = decode(step_fn, initial_state, first, max_length, choose, is_end=is_end,
                 pad_value=tf.cast(pad_id, tf.int32), static_length=static_length)
    out["ids"] = out.pop("outputs")
    return out


def _pick_token(log_probs, token):
    """`choose`'s answer for a token: the token and its log-probability."""
    return token, tf.gather(tf.cast(log_probs, tf.float32), token, batch_dims=1)


def _batch_major(x):
    """`[time, batch, ...]` → `[batch, time, ...]`."""
    return tf.transpose(x, [1, 0, *range(2, x.shape.rank)])


def _where_rows(rows, value, otherwise):
    """`value` where `rows` `[rows]` is true, else `otherwise` `[rows, ...]`."""
    rows = tf.reshape(rows, [-1] + [1] * (otherwise.shape.rank - 1))
    return tf.where(rows, tf.cast(value, otherwise.dtype), otherwise)
