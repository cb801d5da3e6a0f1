"""Training throughput: the zoo's model against plain Keras and PyTorch on the same architecture and batches.

Headline (`zoo`, `plain_keras`, `pytorch`): the zoo's recipe pipeline makes
`warmup + steps` batches once (bucketed by length), as numpy arrays; the
same arrays, the same padded shapes and masks, train all three. Each way
first runs the untimed ones and one batch of each padded shape (so that every
shape has run once), then is timed over the last `steps`, from the first step's start to the last
step's end; what differs is the model code and the framework, not the batches.

"As each user would write it" (`plain_keras_as_written`,
`pytorch_as_written`, with `as_written`): the same models with their own
input, as before the identical-batch rework: plain Keras arrays padded to the
data set's maximum, PyTorch batches padded to their longest row in data order
with packed encoders; `warmup` steps, then `steps` timed. Their examples
differ from the zoo's (the same number of batches of a seeded permutation).

Throughput counts real units only (see `workloads`). The arithmetic
(`flops`) is counted at the timed batches' padded shapes, for all three
ways the zoo model's matrix products, and compared with what `tf.matmul`
reaches on this machine at the main recurrent layer's per-step sizes
(`recurrent_gemm_rate`) and on one large square product (`peak_rate`).
"""

import contextlib
import time

import keras
import numpy as np
import tensorflow as tf
import torch

import flops
import torch_models

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


def _dataset(batches, spec):
    return tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec).prefetch(tf.data.AUTOTUNE)


def _spec(batches):
    """The batches' signature: a dimension all of them share is kept, others are None (as bucketing gives)."""
    def spec(*arrays):
        shapes = {a.shape for a in arrays}
        dims = [dim if len({s[i] for s in shapes}) == 1 else None for i, dim in enumerate(arrays[0].shape)]
        return tf.TensorSpec(dims, tf.as_dtype(arrays[0].dtype))
    return tf.nest.map_structure(spec, *batches)


@contextlib.contextmanager
def keras_precision(precision):
    """Keras's policy for `precision` while the block runs: float32, or mixed bfloat16 (float32 variables)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32" if precision == "float32" else f"mixed_{precision}")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def keras_way(model_fn, loss, batches, warmup, jit_compile=False, precision="float32"):
    """A Keras model (`model_fn()`), Adam, `model.fit` over the given numpy batches: seconds for batches[warmup:]."""
    keras.utils.set_random_seed(1)
    with keras_precision(precision):
        model = model_fn()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, jit_compile=jit_compile)
        spec = _spec(batches)  # one signature for both passes: the timed one reuses the traced train step
        _timed_fit(model, _dataset(first_runs(batches, warmup), spec))
        seconds = _timed_fit(model, _dataset(batches[warmup:], spec))
    return seconds, model.count_params()


def first_runs(batches, warmup):
    """The untimed batches a way runs first: the `warmup` ones and the first timed batch of each padded shape
    they lack, so that no shape is new when the timing starts (TensorFlow's kernels and oneDNN's primitives are
    made for a shape on its first run)."""
    shape = lambda batch: tuple(a.shape for a in tf.nest.flatten(batch))
    first, seen = list(batches[:warmup]), {shape(b) for b in batches[:warmup]}
    for batch in batches[warmup:]:
        if shape(batch) not in seen:
            first.append(batch)
            seen.add(shape(batch))
    return first


def _torch_steps(model, batches, warmup, precision="float32"):
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    lower = precision != "float32"  # autocast: the products in bfloat16, the weights and their updates float32

    def step(batch):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=getattr(torch, precision), enabled=lower):
            loss = model.loss(batch)
        loss.backward()
        optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    return time.perf_counter() - start, sum(p.numel() for p in model.parameters())


def torch_way(workload, batches, warmup, precision="float32"):
    """The PyTorch model on the same numpy batches (masked, unpacked): `first_runs`, then the timed ones."""
    torch.manual_seed(1)
    first = [torch_models.from_arrays(b) for b in first_runs(batches, warmup)]
    timed = [torch_models.from_arrays(b) for b in batches[warmup:]]
    return _torch_steps(workload.torch_model(pack=False), first + timed, len(first), precision)


def plain_as_written(workload, order, warmup, steps):
    """The plain Keras model on numpy arrays padded to the data set's maximum, `compile()` defaults."""
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


def pytorch_as_written(workload, order, warmup, steps):
    """The PyTorch model on batches padded to their longest row, encoders packed (the same examples as
    `plain_as_written`, so the same work)."""
    torch.manual_seed(1)
    model = workload.torch_model(pack=True)
    batches = [model.collate([workload.torch_rows[i] for i in order[n * BATCH: (n + 1) * BATCH]])
               for n in range(warmup + steps)]
    return _torch_steps(model, batches, warmup)


def _best_seconds(run, repeats):
    run()  # trace, allocate
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def recurrent_gemm_rate(rows, features, units, gates, steps, repeats=5, precision="float32"):
    """GFLOP/s of `tf.matmul` at a recurrent layer's per-step sizes: `steps` times x_t [rows, features] ×
    [features, gates · units] + h [rows, units] × [units, gates · units], h fed back, in one tf.function, in
    `precision`."""
    generator = tf.random.Generator.from_seed(1)
    dtype = tf.as_dtype(precision)
    xs = tf.cast(generator.normal([steps, rows, features]), dtype)
    kernel = tf.cast(generator.normal([features, gates * units]) * 0.05, dtype)
    recurrent_kernel = tf.cast(generator.normal([units, gates * units]) * 0.05, dtype)

    @tf.function
    def loop():
        h = tf.zeros([rows, units], dtype)
        for t in tf.range(steps):
            h = tf.tanh((tf.matmul(xs[t], kernel) + tf.matmul(h, recurrent_kernel))[:, :units])
        return h

    seconds = _best_seconds(lambda: loop().numpy(), repeats)
    return steps * (flops.dense(rows, features, gates * units) + flops.dense(rows, units, gates * units)) / seconds / 1e9


def peak_rate(size=2048, repeats=5, precision="float32"):
    """GFLOP/s of one [size, size] × [size, size] `tf.matmul` in `precision`, best of `repeats`: the machine's
    matrix-product peak as TensorFlow reaches it."""
    generator = tf.random.Generator.from_seed(1)
    a, b = (tf.cast(generator.normal([size, size]), precision) for _ in range(2))
    product = tf.function(lambda: tf.matmul(a, b))
    return flops.dense(size, size, size) / _best_seconds(lambda: product().numpy(), repeats) / 1e9


def zoo_batches(workload, count):
    """The first `count` batches of the zoo's pipeline, as numpy arrays: what all three ways train on.

    Make them all before `measure` runs any: `keras.utils.set_random_seed`
    (`tf.random.set_seed`) clears TensorFlow's eager kernel cache, which
    deletes the SentencePiece tokenizer's resource (private to its kernel),
    so a translation pipeline made or read after it fails.
    """
    batches = list(workload.zoo_dataset.take(count).as_numpy_iterator())
    if len(batches) < count:
        raise ValueError(f"{workload.name}: {len(batches)} batches, fewer than {count}")
    return batches


def measure(workload, batches, warmup, jit_compile=False, as_written=True, gemm_repeats=5, precision="float32"):
    """One table row: units/s of each way on the same `batches` (`zoo_batches`; the first `warmup` are not
    timed) in `precision` (float32 or bfloat16: Keras's mixed policy, PyTorch's autocast), the zoo's ratios,
    GFLOP/s against tf.matmul's in the same precision."""
    timed = batches[warmup:]
    steps = len(timed)
    work = sum(workload.count(b) for b in timed)
    operations = sum(workload.flops(b) for b in timed)
    results = {"zoo": keras_way(workload.zoo_model, workload.zoo_loss, batches, warmup, precision=precision),
               "plain_keras": keras_way(workload.plain_model, workload.zoo_loss, batches, warmup, precision=precision),
               "pytorch": torch_way(workload, batches, warmup, precision)}
    if jit_compile:
        results["zoo_xla"] = keras_way(workload.zoo_model, workload.zoo_loss, batches, warmup, jit_compile=True,
                                       precision=precision)
    shapes = np.array([workload.recurrent_gemm(b) for b in timed])
    rows, features, units, gates, gemm_steps = (int(round(v)) for v in shapes.mean(axis=0))
    gemm = recurrent_gemm_rate(rows, features, units, gates, gemm_steps, gemm_repeats, precision)
    row = {"model": workload.name, "precision": precision, "size": workload.size, "data": workload.data, "unit": workload.unit,
           "batch": BATCH, "steps": steps, "work": work, "flops": operations, "flops_per_step": operations / steps,
           "padded_shapes": sorted({str(tuple(a.shape for a in tf.nest.flatten(b))) for b in timed}),
           "recurrent_gemm": {"rows": rows, "features": features, "units": units, "gates": gates, "steps": gemm_steps,
                              "gflops_per_second": gemm}}
    for way, (seconds, params) in results.items():
        achieved = operations / seconds / 1e9
        row[way] = {"per_second": work / seconds, "seconds": seconds, "work": work, "parameters": int(params),
                    "gflops_per_second": achieved, "share_of_gemm": achieved / gemm}
    row["zoo_vs_plain"] = row["zoo"]["per_second"] / row["plain_keras"]["per_second"]
    row["zoo_vs_pytorch"] = row["zoo"]["per_second"] / row["pytorch"]["per_second"]
    if as_written:
        order = np.random.default_rng(1).permutation(len(workload.torch_rows))
        if len(order) < (warmup + steps) * BATCH:
            raise ValueError(f"{workload.name}: {len(order)} examples, fewer than {warmup + steps} batches")
        plain = plain_as_written(workload, order, warmup, steps)
        for way, (work_, seconds, params) in {"plain_keras_as_written": plain,
                                             "pytorch_as_written": (plain[0], *pytorch_as_written(
                                                 workload, order, warmup, steps))}.items():
            row[way] = {"per_second": work_ / seconds, "seconds": seconds, "work": work_, "parameters": int(params)}
    return row
