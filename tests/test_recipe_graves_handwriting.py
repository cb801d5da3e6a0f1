"""recipes/train_graves_handwriting.py end to end, in fresh processes."""

import json
import os

import matplotlib.image
import pytest

from conftest import recipe_stop, run_recipe
from test_handwriting_data import LINE_XML, UNTIMED_LINE_XML, write_tree

# Six epochs: a minute alone. The smoke run below draws and exports with its .tflite in CI.
@pytest.mark.slow
def test_demo_config_learns_draws_and_exports(tmp_path):
    result = run_recipe("graves_handwriting", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.json") as f:
        metrics = json.load(f)
    # One unit Gaussian per point costs log 2π + 1 ≈ 2.8 nats; the loops are predictable far below that.
    assert metrics["valid_nll_per_point"] < 0.0
    assert (metrics["valid_lines"], metrics["train_lines"]) == (10, 110)  # no task lists: by form, 2 of 24 forms
    pixels = matplotlib.image.imread(tmp_path / "run" / "sample.png")[..., :3].mean(axis=-1)
    assert 0 < (pixels < 0.5).mean() < 0.5  # pen strokes on a white page
    assert (tmp_path / "run" / "sample.svg").read_text().count("<path ") >= 1
    extra = tmp_path / "savedmodels" / "1" / "assets.extra"
    assert sorted(os.listdir(extra)) == ["graves_handwriting_step.tflite", "normalisation.json", "zoo.json"]


def test_smoke_run_and_resume(tmp_path):
    # The demo's lines lose no readings: --fill_missing_readings reads their times and changes nothing.
    first = run_recipe("graves_handwriting", tmp_path, "--precision=bfloat16", "--fill_missing_readings",
                       "--epochs=1", "--steps_per_epoch=2", "--notflite", "--sample_steps=20")
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = run_recipe("graves_handwriting", tmp_path, "--resume", "--epochs=2", "--steps_per_epoch=2",
                         "--sample_steps=20")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1", "2"]
    assert (tmp_path / "run" / "sample.svg").read_text().count("<path ") >= 1
    extra = tmp_path / "savedmodels" / "2" / "assets.extra"
    assert sorted(os.listdir(extra)) == ["graves_handwriting_step.tflite", "normalisation.json", "zoo.json"]


def write_one_form(folder):
    write_tree(folder, {"a01-000u-01": LINE_XML, "a01-000u-02": LINE_XML})


def write_untimed_line(folder):
    write_tree(folder, {"a01-000u-01": UNTIMED_LINE_XML})


@pytest.mark.parametrize("flags, message", [
    (["--dataset=iam_ondb", "--data_dir={tmp}"],
     "train_graves_handwriting: error: no lineStrokes-all.tar.gz or lineStrokes/ in {tmp}"),
    (["--dataset=iam_ondb", "--data_dir={tmp}/one_form"], "too few lines to split into train/valid (2/0 lines)"),
    (["--dataset=iam_ondb", "--data_dir={tmp}/untimed", "--fill_missing_readings"],
     "a01-000u-01.xml: a <Point> without integer x and y and a time"),
])
def test_bad_set_up_stops_with_one_line(tmp_path, flags, message):
    write_one_form(tmp_path / "one_form")
    write_untimed_line(tmp_path / "untimed")
    stop = recipe_stop("graves_handwriting", tmp_path, *(flag.format(tmp=tmp_path) for flag in flags))
    assert message.format(tmp=tmp_path) in stop
