"""recipes/train_graves_synthesis.py end to end, in fresh processes."""

import json
import os

import matplotlib.image
import pytest
import tensorflow as tf

from conftest import recipe_stop, run_recipe


@pytest.mark.slow
def test_demo_config_learns_writes_and_exports(tmp_path):
    result = run_recipe("graves_synthesis", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.json") as f:
        metrics = json.load(f)
    # One unit Gaussian per point costs log 2π + 1 ≈ 2.8 nats; the letters are predictable far below that.
    assert metrics["valid_nll_per_point"] < 0.0
    assert "finished: True" in result.stdout  # the window reached the end of the sample text
    pixels = matplotlib.image.imread(tmp_path / "run" / "sample.png")[..., :3].mean(axis=-1)
    assert 0 < (pixels < 0.5).mean() < 0.5  # pen strokes on a white page


def test_smoke_run_resume_and_export(tmp_path):
    first = run_recipe("graves_synthesis", tmp_path, "--precision=bfloat16",  # the window and mixture in float32
                       "--epochs=1", "--steps_per_epoch=2", "--units=16", "--sample_text=to")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_recipe("graves_synthesis", tmp_path,
                         "--resume", "--epochs=2", "--steps_per_epoch=2", "--units=16", "--sample_text=to")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1", "2"]
    assert {"characters.json", "graves_synthesis.keras", "metrics.json", "sample.png", "sample.svg"} <= set(
        os.listdir(tmp_path / "run"))
    write = tf.saved_model.load(str(tmp_path / "savedmodels" / "2")).signatures["serving_default"]
    out = write(text=tf.constant(["into a vat"]), bias=tf.constant([1.0]), seed=tf.constant([1], tf.int64))
    assert out["strokes"].shape[0] == 1 and out["alignment"].shape[2] == len("into a vat")


@pytest.mark.parametrize("flags, message", [
    (["--dataset=iam_ondb", "--data_dir={tmp}"], "train_graves_synthesis: error: no lineStrokes-all.tar.gz"),
])
def test_bad_set_up_stops_with_one_line(tmp_path, flags, message):
    stop = recipe_stop("graves_synthesis", tmp_path, *(flag.format(tmp=tmp_path) for flag in flags))
    assert message.format(tmp=tmp_path) in stop
