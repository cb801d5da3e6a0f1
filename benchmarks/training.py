"""Training throughput: the zoo's recipe path against plain Keras and PyTorch on the same architecture.

Each way warms up (graph tracing, allocators), then is timed over `steps`
steps, from the first step's start to the last step's end. Warm-up is
`warmup` steps for plain Keras and PyTorch; the zoo runs a whole pass over
its `warmup + steps` batches first, so that the train step is traced for
every bucket's shape before the clock runs. The batches are made and cached
before timing, so the input pipeline is not timed for any of the three; what
differs is the model code, the framework and how much padding each batch
carries. Throughput counts real units only (see `workloads`).
"""

import time

import keras
import numpy as np
import tensorflow as tf
import torch

BATCH = 64


class _StepClock(keras.callbacks.Callback):
    """Wall time from the first step's start to the last step's end: `fit`'s set-up and teardown are left out."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()


def _timed_fit(model, *data, **fit_args):
    clock = _StepClock()
    model.fit(*data, epochs=1, verbose=0, callbacks=[clock], **fit_args)
    return clock.end - clock.start


def zoo(workload, warmup, steps, jit_compile=False):
    """The recipe's model class, loss and tf.data batches (bucketed by length), Keras's compiled `fit`."""
    keras.utils.set_random_seed(1)
    batches = workload.zoo_dataset.take(warmup + steps).cache()
    work = sum(workload.count(b) for b in batches.skip(warmup).as_numpy_iterator())
    model = workload.zoo_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=workload.zoo_loss, jit_compile=jit_compile)
    # The first pass traces the train step for each bucket's shape; the second is timed.
    _timed_fit(model, batches)
    seconds = _timed_fit(model, batches.skip(warmup).prefetch(tf.data.AUTOTUNE))
    return work, seconds, model.count_params()


def plain(workload, order, warmup, steps):
    """A functional Keras model, numpy arrays padded to the maximum length, `compile()` defaults."""
    keras.utils.set_random_seed(1)
    rows = order[: (warmup + steps) * BATCH]
    arrays = [tuple(a[rows] for a in part) if isinstance(part, tuple) else part[rows]
              for part in workload.plain_arrays]
    x, y, *weights = arrays
    timed_rows = slice(warmup * BATCH, None)
    work = workload.count(tuple(a[timed_rows] if not isinstance(a, tuple) else tuple(b[timed_rows] for b in a)
                                for a in arrays))
    model = workload.plain_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=workload.zoo_loss)

    def fit(part):
        select = lambda a: [b[part] for b in a] if isinstance(a, tuple) else a[part]
        return _timed_fit(model, select(x), select(y), sample_weight=select(weights[0]) if weights else None,
                          batch_size=BATCH, shuffle=False)

    fit(slice(None, warmup * BATCH))
    seconds = fit(timed_rows)
    return work, seconds, model.count_params()


def pytorch(workload, order, warmup, steps):
    """The PyTorch model, batches padded to their longest row, Adam, eager autograd.

    It trains on the same examples as `plain`, so it does the same work.
    """
    torch.manual_seed(1)
    model = workload.torch_model()
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    batches = [model.collate([workload.torch_rows[i] for i in order[n * BATCH: (n + 1) * BATCH]])
               for n in range(warmup + steps)]

    def step(batch):
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    return time.perf_counter() - start, sum(p.numel() for p in model.parameters())


def measure(workload, warmup, steps, jit_compile=False):
    """One table row: units/s of each way and the zoo's ratios against the others."""
    order = np.random.default_rng(1).permutation(len(workload.torch_rows))
    if len(order) < (warmup + steps) * BATCH:
        raise ValueError(f"{workload.name}: {len(order)} examples, fewer than {warmup + steps} batches")
    results = {"zoo": zoo(workload, warmup, steps), "plain_keras": plain(workload, order, warmup, steps)}
    results["pytorch"] = (results["plain_keras"][0], *pytorch(workload, order, warmup, steps))
    if jit_compile:
        results["zoo_xla"] = zoo(workload, warmup, steps, jit_compile=True)
    row = {"model": workload.name, "size": workload.size, "data": workload.data, "unit": workload.unit,
           "batch": BATCH, "steps": steps}
    for way, (work, seconds, params) in results.items():
        row[way] = {"per_second": work / seconds, "seconds": seconds, "work": work, "parameters": int(params)}
    row["zoo_vs_plain"] = row["zoo"]["per_second"] / row["plain_keras"]["per_second"]
    row["zoo_vs_pytorch"] = row["zoo"]["per_second"] / row["pytorch"]["per_second"]
    return row
