"""Decoding latency: the exported SavedModel's in-graph decoders against the same decoders run eagerly.

The eager baseline is the obvious Python decoder: the very functions the
export traces (`zoo.export.translation_functions`, whose loops are
`tf.while_loop`s) called on the Keras model with `tf.function` turned off,
so every step is a Python iteration dispatching TensorFlow ops one by one.
Same weights, same algorithm: the benchmark checks that the translations
agree before it times anything.

The models are the serving section's trained runs (a demo config, or the
finished run that `--trained` names), decoding their test sentences.
"""

import statistics
import time

import numpy as np
import tensorflow as tf

from zoo import export

def median_seconds(function, repeats):
    """Median wall time of `repeats` calls of `function`, after one warm-up call."""
    function()  # warm-up: loads, traces, allocates
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _eager(function):
    def run(text):
        tf.config.run_functions_eagerly(True)
        try:
            return function(text)
        finally:
            tf.config.run_functions_eagerly(False)

    return run


def measure(name, model, tokenizer, flags, export_dir, sources, repeats):
    """Rows for the served beam search and greedy at batch 1 and 32 of one trained translation model.

    The model is exported afresh into `export_dir`, so a run trained by an
    older version of the zoo is measured with today's export code.
    """
    max_length, beam = int(flags["max_length"]), int(flags.get("beam_size", 4))
    alpha, beta = float(flags.get("alpha", 0.6)), float(flags.get("beta", 0.2))
    path = export.export_translation(model, tokenizer, export_dir, max_length, beam, alpha, beta, tflite=False)
    served = tf.saved_model.load(path).signatures
    eager = export.translation_functions(model, tokenizer, max_length, beam, alpha, beta)
    rows = []
    for decoder, signature in ((f"beam {beam}", export.SERVING_SIGNATURE), ("greedy", "greedy")):
        for batch in (1, 32):
            text = tf.constant(sources[:batch])
            graph_out, eager_out = served[signature](text=text), _eager(eager[signature])(text)
            same = float(np.mean(graph_out["translation"].numpy() == eager_out["translation"].numpy()))
            score_gap = float(np.max(np.abs(graph_out["score"].numpy() - eager_out["score"].numpy())))
            graph_s = median_seconds(lambda: served[signature](text=text), repeats)
            eager_s = median_seconds(lambda: _eager(eager[signature])(text), max(1, repeats // 3))
            rows.append({"model": name, "parameters": model.count_params(), "decoder": decoder, "batch": batch,
                         "max_length": max_length,
                         "savedmodel_ms": 1000 * graph_s, "eager_ms": 1000 * eager_s, "speedup": eager_s / graph_s,
                         "same_translations": same, "max_score_difference": score_gap})
    return rows
