"""recipes/train_graves_text.py end to end, in fresh processes."""

import json
import os
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from conftest import recipe_stop, run_recipe, tflite_interpreter
from test_export_signatures import describe_saved_model

# Four epochs: a minute alone. The smoke run below evaluates dynamically in CI, the bfloat16 run exports a .tflite.
@pytest.mark.slow
def test_demo_config_learns_and_exports(tmp_path):
    result = run_recipe("graves_text", tmp_path, "--dynamic_learning_rates=0.001,0.01", "--dynamic_tune_characters=2000")
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.json") as f:
        metrics = json.load(f)
    # Character frequencies alone give ~4 bits; the grammar is learnable far below that.
    assert metrics["test_bits_per_character"] < 1.5
    # Carried states see the previous window's words, which fresh windows do not.
    assert metrics["test_bits_per_character"] <= metrics["test_bits_per_character_windows"] + 0.01
    assert metrics["test_bits_per_character_dynamic"] < 1.5
    tried = metrics["validation_bits_per_character_dynamic"]
    assert sorted(tried) == ["0.001", "0.01"] and tried[str(metrics["dynamic_learning_rate"])] == min(tried.values())
    assert "sample: The " in result.stdout
    assert os.path.exists(tmp_path / "savedmodels" / "1" / "assets.extra" / "graves_text_step.tflite")


@pytest.fixture(scope="module")
def float32_run(tmp_path_factory):
    """A float32 smoke run and its resumed second epoch, with dynamic evaluation: `(folder, first, resumed)`."""
    tmp_path = tmp_path_factory.mktemp("graves_text_run")
    flags = ["--precision=float32", "--steps_per_epoch=2", "--notflite", "--update_dropout=0.25"]
    first = run_recipe("graves_text", tmp_path, "--epochs=1", *flags)
    resumed = run_recipe("graves_text", tmp_path, "--resume", "--epochs=2", *flags,
                         "--dynamic_learning_rates=0.001,0.01", "--dynamic_tune_characters=2000")
    return tmp_path, first, resumed


def test_smoke_run_resume_and_dynamic_evaluation(float32_run):
    tmp_path, first, resumed = float32_run
    assert first.returncode == 0, first.stderr[-3000:]
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1", "2"]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    tried = metrics["validation_bits_per_character_dynamic"]
    assert sorted(tried) == ["0.001", "0.01"] and tried[str(metrics["dynamic_learning_rate"])] == min(tried.values())
    assert f"test bits per character with dynamic evaluation: {metrics['test_bits_per_character_dynamic']:.4f}" in (
        resumed.stdout)


def test_bfloat16_and_xla_train_and_export_float32_with_the_float32_runs_signatures(tmp_path, float32_run):
    # bfloat16 compute with an XLA train step; the export is float32, as a float32 run's.
    (tmp_path / "bfloat16").mkdir()
    result = run_recipe("graves_text", tmp_path / "bfloat16", "--precision=bfloat16", "--jit_compile", "--epochs=1",
                        "--steps_per_epoch=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Precision: bfloat16" in result.stderr
    run = tmp_path / "bfloat16" / "run"
    assert json.loads((run / "metrics.json").read_text())["precision"] == "bfloat16"
    with open(run / "graves_text.keras", "rb") as f:
        assert b"mixed_bfloat16" in zipfile.ZipFile(f).read("config.json")
    export = tmp_path / "bfloat16" / "savedmodels" / "1"
    interpreter = tflite_interpreter(model_path=str(export / "assets.extra" / "graves_text_step.tflite"))
    details = interpreter.get_input_details() + interpreter.get_output_details()
    assert {d["dtype"] for d in details if d["name"] != "serving_default_char_id:0"} == {np.float32}
    generate = tf.saved_model.load(str(export)).signatures["generate"]
    out = generate(text=tf.constant(["The "]), length=tf.constant([5]), temperature=tf.constant([1.0]),
                   seed=tf.constant([1], tf.int64))
    assert len(out["text"].numpy()[0].decode("utf-8")) == 5
    float32, first, _ = float32_run
    assert first.returncode == 0, first.stderr[-3000:]
    assert describe_saved_model(str(export)) == describe_saved_model(str(float32 / "savedmodels" / "1"))


@pytest.mark.parametrize("flags, message", [
    (["--corpus=ptb_char", "--data_dir={tmp}"], "train_graves_text: error: {tmp}/ptb.char.train.txt: no such file"),
    (["--corpus=tinyshakespeare", "--data_dir={tmp}"], "no input.txt in {tmp}; pass --download"),
])
def test_bad_set_up_stops_with_one_line(tmp_path, flags, message):
    stop = recipe_stop("graves_text", tmp_path, *(flag.format(tmp=tmp_path) for flag in flags))
    assert message.format(tmp=tmp_path) in stop
