"""Export mechanics every model family shares: versions, atomic publish, the portable copy, input checks."""

import errno
import json
import os
import re
import shutil
import tempfile

import keras
import tensorflow as tf

SERVING_SIGNATURE = "serving_default"
EXTRA_DIR = "assets.extra"  # SavedModel's place for files the graph does not use.
METADATA_FILE = "zoo.json"  # in EXTRA_DIR: what `zoo.load` reads (`metadata`)
# The layout of an export as `zoo.load` reads it; a loader refuses a newer one. Raise it when an older
# loader would misread an export (a renamed file or key), not when a key is added.
FORMAT_VERSION = 1


def next_version(export_base):
    """The next free TF Serving version number under `export_base` (1 if none)."""
    if not os.path.isdir(export_base):
        return 1
    versions = [int(name) for name in os.listdir(export_base) if re.fullmatch(r"\d+", name)]
    return max(versions, default=0) + 1


def check_writable(export_base):
    """Raises `PermissionError` with a one-line message if exports cannot be written there."""
    try:
        os.makedirs(export_base, exist_ok=True)
        tempfile.TemporaryFile(dir=export_base).close()
    except OSError as e:
        raise PermissionError(f"cannot write exports to {export_base}: {e.strerror or e}") from e


def portable_copy(model):
    """A float32 copy of `model` whose RNNs never use CuDNN kernels, so its graph runs on any CPU.

    The copy is built by calling it on `model.example_input()`.
    """
    config = model.get_config()
    if "use_cudnn" in config:  # models whose RNNs can never use CuDNN (e.g. reset-before GRUs) lack the option
        config["use_cudnn"] = False
    # A model trained with mixed precision exports in float32: its variables are float32 already, and
    # float16 compute is slower or unsupported on the CPUs that serve it. Layers take the global policy.
    config["dtype"] = "float32"
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        copy = type(model).from_config(config)
    finally:
        keras.config.set_dtype_policy(policy)
    copy(copy.example_input())
    copy.set_weights(model.get_weights())
    return copy


def checked(condition, message, value):
    """An Assert that runs before whatever uses `value`; returns `value`."""
    with tf.control_dependencies([tf.debugging.Assert(condition, message)]):
        return tf.identity(value)


def checked_range(signature, name, values, low, high):
    """`values`, checked at run time to lie in [low, high] (`INVALID_ARGUMENT` naming the argument otherwise)."""
    return checked(tf.reduce_all((values >= low) & (values <= high)),
                   [f"{signature}: {name} must be in [{low}, {high}], got", values], values)


def checked_non_negative(signature, name, values):
    """`values`, checked at run time to be finite and >= 0 (`INVALID_ARGUMENT` naming the argument otherwise)."""
    return checked(tf.reduce_all(tf.math.is_finite(values) & (values >= 0.0)),
                   [f"{signature}: {name} must be finite and >= 0, got", values], values)


def row_status(valid, error):
    """The per-row status every text signature returns: `valid` bool `[batch]`, `error` string `[batch]`.

    `error` (one message, or one a row) is kept where `valid` is false and is
    "" elsewhere. A row that cannot be served gets a defined answer and its
    reason; the rows beside it are served as they would be alone (under TF
    Serving's batching, other clients' requests share the batch).
    """
    return {"valid": valid, "error": tf.where(valid, tf.constant(""), error)}


def row_checks(*checks):
    """The per-row status (`row_status`) of rows that must pass every check.

    `checks` are `(ok, error)` pairs: `ok` bool `[batch]`, `error` a message
    (one, or one a row). A row that fails is not `valid`; its `error` is the
    message of the first check it fails. So a bad value in one row (a negative
    temperature, a text over the cap) refuses that row alone: under TF
    Serving's batching the rows beside it are other clients' requests.
    """
    valid = tf.reduce_all(tf.stack([ok for ok, _ in checks]), axis=0)
    error = tf.constant("")
    for ok, message in reversed(checks):
        error = tf.where(ok, error, message)
    return row_status(valid, error)


def in_range_check(name, values, low, high):
    """A `row_checks` check: each row's value lies in [low, high]."""
    bounds = [tf.strings.as_string(tf.cast(bound, values.dtype)) for bound in (low, high)]  # numbers or tensors
    return ((values >= low) & (values <= high),
            tf.strings.join([f"{name} must be in [", bounds[0], ", ", bounds[1], "], got ",
                             tf.strings.as_string(values)]))


def non_negative_check(name, values):
    """A `row_checks` check: each row's value is finite and >= 0."""
    return (tf.math.is_finite(values) & (values >= 0.0),
            tf.strings.join([f"{name} must be finite and >= 0, got ", tf.strings.as_string(values, shortest=True)]))


def bias_checks(bias, max_bias):
    """The `row_checks` checks of a sampling bias b (Graves §5.4): finite, in [0, max_bias]."""
    at_most = (bias <= max_bias, tf.strings.join([f"bias must be at most {max_bias:g}, got ",
                                                  tf.strings.as_string(bias, shortest=True)]))
    return [non_negative_check("bias", bias), at_most]


def served_rows(status, outputs, empty=None):
    """`outputs` with `status` (`row_status`) added; a row that is not valid gets `empty[name]` (default 0 or "").

    Every output's first axis is the batch; the empty value takes each output's dtype and shape.
    """
    valid = status["valid"]
    empty = empty or {}
    answers = {name: tf.where(tf.reshape(valid, [-1] + [1] * (value.shape.rank - 1)), value,
                              tf.cast(empty.get(name, "" if value.dtype == tf.string else 0), value.dtype))
               for name, value in outputs.items()}
    return {**answers, **status}


def same_batch(signature, tensors):
    """The tensors, checked at run time to have one batch size (in TF Serving's row format each input has a row
    each; in the columnar one a client can send any)."""
    sizes = tf.stack([tf.shape(t)[0] for t in tensors])
    first = checked(tf.reduce_all(sizes == sizes[0]),
                    [f"{signature}: every input must have the same batch size, got", sizes], tensors[0])
    return [first, *tensors[1:]]


def checked_shapes(tensors, shapes):
    """The tensors, each checked at run time to have its shape.

    A loaded signature does not check its inputs' shapes against its input
    signature, and elementwise ops take any rank: without this, a `[1, 1]`
    text or a `[1]` length would run, or fail deep inside.
    """
    return [tf.ensure_shape(tensor, shape) for tensor, shape in zip(tensors, shapes)]


def metadata(family, portable, tokenizer=None):
    """`zoo.json`: the export's format version, task family, model class and config, tokenizer class.

    The config rebuilds the model (`type(model).from_config`) whose weights are
    the export's variables, in order: `zoo.load(...).model`.
    """
    return json.dumps({"format_version": FORMAT_VERSION, "family": family, "class_name": type(portable).__name__,
                       "config": portable.get_config(),
                       "tokenizer": type(tokenizer).__name__ if tokenizer is not None else None}, indent=2)


def write_export(export_base, family, portable, signatures, extra_files, tokenizer=None):
    """Writes a SavedModel and its `assets.extra/` files to `export_base/<next version>/`; returns it.

    The SavedModel is written to a hidden temp directory beside the versions
    and renamed to the next free integer version only when complete, so TF
    Serving, which only loads integer-named directories, never sees a
    half-written model, and no existing version is ever overwritten.

    Args:
        family: the task family (`zoo.registry.FAMILIES`) the signatures serve.
        portable: the model the signatures call (see `portable_copy`).
        signatures: `{name: tf.function}`; `serving_default` is TF Serving's default.
        extra_files: `{file name: str or bytes}` written to `assets.extra/`, beside `zoo.json` (`metadata`)
            and the tokenizer's files.
        tokenizer: the tokenizer the signatures run, if any: its lookup tables are tracked, its files
            (`assets()`) written.
    """
    check_writable(export_base)
    extra_files = {**(tokenizer.assets() if tokenizer is not None else {}), **extra_files,
                   METADATA_FILE: metadata(family, portable, tokenizer)}
    resources = tokenizer.resources if tokenizer is not None else []
    tmp = tempfile.mkdtemp(prefix=".tmp-export-", dir=export_base)
    try:
        tf.saved_model.save(_serving_root(portable, resources, signatures), tmp, signatures=signatures)
        extra = os.path.join(tmp, EXTRA_DIR)
        os.makedirs(extra, exist_ok=True)
        for name, content in extra_files.items():
            mode, encoding = ("wb", None) if isinstance(content, bytes) else ("w", "utf-8")
            with open(os.path.join(extra, name), mode, encoding=encoding) as f:
                f.write(content)
        return _publish(tmp, export_base)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _serving_root(model, resources, signatures):
    """What `tf.saved_model.save` writes: variables, resources and signatures, not the Keras model.

    As in keras.export.ExportArchive: a SavedModel holding the Keras model object
    reloads in Python but not in TF Serving's session loader, which then fails
    with "Could not find variable" (keras-team/keras#20095); listing the
    variables on a plain trackable avoids that. Lookup tables must be tracked
    too, or saving fails on an untracked resource.
    """
    root = tf.Module()
    root.variables_list = [v.value for v in model.variables]  # the tf.Variables, not Keras wrappers
    root.resources = list(resources)
    for name, function in signatures.items():
        setattr(root, name, function)
    return root


def _publish(tmp, export_base):
    """Renames a finished export to the next free version; never replaces one."""
    while True:
        target = os.path.join(export_base, str(next_version(export_base)))
        try:
            os.rename(tmp, target)  # atomic; fails if a concurrent export took the number
            return target
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
