import contextlib
import fcntl
import json
import os
import runpy
import subprocess
import sys
from pathlib import Path
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text
from absl import app, flags
from ai_edge_litert import interpreter as litert

from zoo import data, export, text
from zoo.models import HierarchicalAttentionNetwork

REPO = Path(__file__).resolve().parents[1]
MAX_SENTENCES, MAX_WORDS = 8, 16


def run_python(args, cwd, timeout=600):
    """Runs `python args...` in a fresh process; returns the CompletedProcess (text mode)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def recipe_argv(name, tmp_path, *flags, config=None, export_dir=None):
    """`recipes/train_<name>.py --flagfile=recipes/configs/<config>.flags` (default `<name>_demo`), its data, run
    and export folders under `tmp_path`, then `flags`."""
    flagfile = REPO / "recipes" / "configs" / f"{config or name + '_demo'}.flags"
    return [str(REPO / "recipes" / f"train_{name}.py"), f"--flagfile={flagfile}", f"--data_dir={tmp_path / 'data'}",
            f"--model_dir={tmp_path / 'run'}", f"--export_dir={export_dir or tmp_path / 'savedmodels'}", *flags]


def run_recipe(name, tmp_path, *flags, config=None, export_dir=None):
    """Runs `recipe_argv(...)` as a user would, in a fresh process in `tmp_path`."""
    return run_python(recipe_argv(name, tmp_path, *flags, config=config, export_dir=export_dir), cwd=tmp_path)


def recipe_stop(name, tmp_path, *flags, config=None, export_dir=None):
    """The line `run_recipe(...)` stops with when its set-up fails: the recipe's `__main__` run in this process, in
    `tmp_path`, until it exits with that line (`recipes/run_flags.py`), without a fresh process's start of seconds.

    A recipe that does not stop so fails the test. The global dtype policy a run sets is restored.
    `tests/test_recipe.py` checks in a fresh process that the line is all a stopped recipe prints.
    """
    argv = recipe_argv(name, tmp_path, *flags, config=config, export_dir=export_dir)
    policy = keras.config.dtype_policy()
    with defined_flags(), contextlib.chdir(tmp_path), mock.patch.object(sys, "argv", argv):
        try:
            runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as stop:
            if isinstance(stop.code, str):
                return stop.code
        finally:
            keras.config.set_dtype_policy(policy)
    pytest.fail(f"{' '.join(argv)} did not stop with an error line")


@contextlib.contextmanager
def defined_flags():
    """Flags a recipe defines in this context (with `recipes/` on the path, as when it runs) are removed afterwards;
    absl's help flags, which `app.run` defines once a process, stay."""
    app.define_help_flags()
    before = set(flags.FLAGS)
    sys.path.insert(0, str(REPO / "recipes"))
    try:
        yield
    finally:
        sys.path.remove(str(REPO / "recipes"))
        flags.FLAGS.unparse_flags()
        for defined in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, defined)


@contextlib.contextmanager
def recipe_flags(name):
    """`recipes/train_<name>.py`'s flags defined in this process; yields `parse(*argv)`. Removed afterwards."""
    with defined_flags():
        runpy.run_path(str(REPO / "recipes" / f"train_{name}.py"), run_name=f"recipe_{name}")
        yield lambda *argv: flags.FLAGS([f"train_{name}", *argv])


def computed_once(tmp_path_factory, name, compute):
    """`compute(folder)`, a JSON value, computed by the first of this session's test processes (pytest-xdist's
    workers) to ask, in a folder they all share; the others wait for it and read the value it gave."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the workers' common folder
    folder, result = root / name, root / f"{name}.json"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not result.exists():
            folder.mkdir(exist_ok=True)
            value = compute(folder)
            result.write_text(json.dumps(value))
        return json.loads(result.read_text())


@pytest.fixture(scope="session")
def demo_documents(tmp_path_factory):
    return data.load_documents("demo", str(tmp_path_factory.mktemp("demo")))


@pytest.fixture(scope="session")
def tokenizer(demo_documents):
    train, _ = demo_documents
    return text.DocumentTokenizer(text.build_vocabulary(train.texts, 400), MAX_SENTENCES, MAX_WORDS)


@pytest.fixture(scope="session")
def trained_han(demo_documents, tokenizer):
    """A small HAN trained briefly on the demo set (not to convergence: outputs are not one-hot)."""
    train, _ = demo_documents
    keras.utils.set_random_seed(0)
    model = HierarchicalAttentionNetwork(tokenizer.vocabulary_size, len(train.class_names),
                                         embedding_dim=16, gru_units=8, attention_units=8)
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(data.document_dataset(train, tokenizer, 32, shuffle=True, seed=0), epochs=1, verbose=0)
    return model


@pytest.fixture(scope="session")
def han_export(trained_han, tokenizer, demo_documents, tmp_path_factory):
    base = tmp_path_factory.mktemp("savedmodels") / "han"
    return export.export_han(trained_han, tokenizer, demo_documents[0].class_names, str(base))


@pytest.fixture(scope="session")
def serving_fn(han_export):
    return tf.saved_model.load(han_export).signatures["serving_default"]


def tflite_interpreter(model_content=None, model_path=None):
    """A LiteRT interpreter, as on a device, with tensorflow-text's custom ops registered (the translation
    .tflite's tokeniser)."""
    return litert.InterpreterWithCustomOps(custom_op_registerers=tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS,
                                           model_content=model_content, model_path=model_path)


def run_tflite(model_content, inputs):
    """Runs a `.tflite` of `zoo.export` on `{input name: array}`; returns its outputs in the order the function
    returned them."""
    interpreter = tflite_interpreter(model_content)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"],
                               np.asarray(inputs[export.tflite_input_name(detail)], detail["dtype"]))
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in export.tflite_outputs(interpreter)]


def run_han_tflite(model_content, word_ids):
    """Runs `han.tflite` on word ids `[1, S, W]`; returns `{output name: array}`."""
    return dict(zip(export.HAN_TFLITE_OUTPUTS, run_tflite(model_content, {"word_ids": word_ids})))


def pad_ids(ids, shape=(1, MAX_SENTENCES, MAX_WORDS)):
    padded = np.zeros(shape, np.int32)
    padded[:, : ids.shape[1], : ids.shape[2]] = ids
    return padded
