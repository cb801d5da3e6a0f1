"""Surviving SIGKILL: training resumes from its last checkpoint; an export is never seen half-written."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import pytest
import tensorflow as tf

from conftest import REPO, run_python

# Recipe, its demo config, steps an epoch: HAN, a SentencePiece translator, the synthesis network.
KILLED_RECIPES = {"han": ("train_han", "han_demo", 150), "gnmt": ("train_gnmt", "gnmt_demo", 150),
                  "graves_synthesis": ("train_graves_synthesis", "graves_synthesis_demo", 40)}


def demo(name, tmp_path, *flags):
    recipe, config, _ = KILLED_RECIPES[name]
    return [sys.executable, str(REPO / "recipes" / f"{recipe}.py"),
            f"--flagfile={REPO / 'recipes' / 'configs' / f'{config}.flags'}", f"--data_dir={tmp_path / 'data'}",
            f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'savedmodels'}", "--notflite", *flags]


def answers(name, export_dir):
    """A good request to the export, answered."""
    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    if name == "graves_synthesis":
        return serve(text=tf.constant(["ab"]), bias=tf.constant([1.0]), seed=tf.constant([1], tf.int64))["valid"]
    return serve(text=tf.constant(["A good film. I liked it."]))["valid"]


def wait_for(condition, process, timeout=240):
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, "the process ended before it could be killed"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def checkpoint_step(checkpoints):
    """The optimizer step counter Keras will restore: the latest checkpoint's, or the previous one's if
    the kill cut the latest short (BackupAndRestore's double_checkpoint)."""
    for name in ("latest.weights.h5", "latest.weights.h5.bkp"):
        try:
            with h5py.File(checkpoints / name, "r") as f:
                return int(f["optimizer/vars/0"][()])  # the optimizer's first variable is its iteration count
        except (OSError, KeyError):
            continue
    raise AssertionError("no readable checkpoint")


# HAN's case runs in CI; the SentencePiece and synthesis recipes' (72 s more) with `pytest -m slow`.
@pytest.mark.parametrize("name", [pytest.param(name, marks=[] if name == "han" else pytest.mark.slow)
                                  for name in sorted(KILLED_RECIPES)])
def test_training_killed_mid_epoch_resumes_from_its_last_checkpoint(tmp_path, name):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
    steps_per_epoch = KILLED_RECIPES[name][2]
    flags = ["--epochs=2", f"--steps_per_epoch={steps_per_epoch}", "--checkpoint_steps=5"]
    checkpoints = tmp_path / "run" / "checkpoints"
    metadata = checkpoints / "training_metadata.json"

    def mid_epoch_checkpoint_written():
        try:
            return json.loads(metadata.read_text())["batch"] >= 9  # the second checkpoint of epoch 1
        except (OSError, ValueError, KeyError):
            return False

    first = subprocess.Popen(demo(name, tmp_path, *flags), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(mid_epoch_checkpoint_written, first)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        first.kill()
    assert first.returncode == -signal.SIGKILL
    restored_step = checkpoint_step(checkpoints)
    assert 5 <= restored_step < steps_per_epoch and restored_step % 5 == 0

    resumed = run_python(demo(name, tmp_path, "--resume", *flags)[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    # The killed epoch goes on after the batches its checkpoint holds, on from the restored weights.
    assert f"Resuming epoch 1 after its batch {restored_step} of {steps_per_epoch}" in resumed.stderr
    assert "Epoch 1/2" in resumed.stdout and "Epoch 2/2" in resumed.stdout
    steps = int(re.search(r"Optimizer steps: (\d+)", resumed.stderr).group(1))
    assert steps == 2 * steps_per_epoch
    assert answers(name, str(tmp_path / "savedmodels" / "1")).numpy().tolist() == [True]


EXPORT_FOREVER = r"""
import sys
import numpy as np
from zoo import export, text
from zoo.models import HierarchicalAttentionNetwork

tokenizer = text.DocumentTokenizer(["[PAD]", "[UNK]", "good", "bad"], 4, 8)
model = HierarchicalAttentionNetwork(4, 2, embedding_dim=8, gru_units=4, attention_units=4)
model(np.ones((1, 1, 1), np.int32))
while True:
    print(export.export_han(model, tokenizer, ["neg", "pos"], sys.argv[1]), flush=True)
"""


def test_export_killed_midway_leaves_only_whole_versions(tmp_path):
    base = tmp_path / "savedmodels"
    exporter = subprocess.Popen([sys.executable, "-c", EXPORT_FOREVER, str(base)], cwd=tmp_path,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
    try:
        exporter.stdout.readline()  # the first version is out
        # Kill while the next one is being written into its temp folder.
        wait_for(lambda: any(name.startswith(".tmp-export-") for name in os.listdir(base)), exporter)
        exporter.send_signal(signal.SIGKILL)
        exporter.wait(timeout=30)
    finally:
        exporter.kill()
    names = os.listdir(base)
    versions = sorted(int(name) for name in names if name.isdigit())
    assert versions == list(range(1, len(versions) + 1))
    # What the kill cut short is a hidden temp folder, which TF Serving does not take for a version.
    assert all(name.isdigit() or name.startswith(".tmp-export-") for name in names)
    assert any(name.startswith(".tmp-export-") for name in names)
    for version in versions:
        serve = tf.saved_model.load(str(base / str(version))).signatures["serving_default"]
        assert serve(text=tf.constant(["good"]))["probabilities"].shape == (1, 2)
        assert os.path.exists(base / str(version) / "assets.extra" / "han.tflite")
    # A later export takes the next number and replaces nothing.
    after = run_python(["-c", "import sys; from zoo import export; print(export.next_version(sys.argv[1]))",
                        str(base)], cwd=tmp_path)
    assert after.stdout.strip() == str(versions[-1] + 1)
