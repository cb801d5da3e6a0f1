"""In-graph decoders for sequence-to-sequence models: greedy, sampling and GNMT beam search.

- `loop`: `decode`, the one loop every generator runs, and `greedy`, `sample` over it;
- `beam`: `beam_search` with GNMT's length and coverage penalties;
- `tensors`: the shape and loop helpers both share.

`decode` is the one loop every generator of the zoo runs (the translation
exports and their TFLite graph, Graves's text and handwriting sampling):
each row feeds back what a `choose` function picks from the step's output.
`greedy` and `sample` are `decode` over token log-probabilities;
`beam_search` keeps several hypotheses a row and has a loop of its own.

Every token decoder drives a model through one step function

    step_fn(tokens, state) -> (log_probs, new_state, attention)

- `tokens` int32 `[rows]`: the previous token of each row (`start_id` first);
- `state`: any nest of tensors whose leading dimension is `rows`; `new_state`
  has the same structure and shapes (only the leading dimension may be unknown).
  An entry that `new_state` passes on as it came at every step (the same
  tensor object, as an encoder's outputs) is not reordered by beam search:
  every beam of a sentence holds that sentence's row of `initial_state`;
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
TFLite cannot lower TensorArrays that grow with the output: with
`static_length=True` (`decode`, `greedy`, `sample`) the outputs are written
into tensors of `max_length` steps instead (OpenNMT-tf's `tflite_output_size`),
every shape is static for a static batch, and the graph converts.
`step_fn` is called once before the loop (its outputs tell whether the model
has attention) and once per further step in the loop, so it is called exactly
once per generated position.

What stops the loop:

- greedy and sample: `max_length` tokens, or every row has produced `end_id`;
- beam search: `max_length` tokens, or, for every sentence of the batch, either
  no live hypothesis is left or `beam_size` hypotheses are finished and no
  live one can reach a score above the worst of them (see `beam_search`: the
  rule never changes the result).

This package (with the layers that are recurrent by nature) holds every
`tf.while_loop` of the zoo.
"""

from zoo.decoding.beam import beam_search, coverage_penalty, length_penalty
from zoo.decoding.loop import decode, greedy, sample

__all__ = ["beam_search", "coverage_penalty", "decode", "greedy", "length_penalty", "sample"]
