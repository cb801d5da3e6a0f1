"""recipes/train_{sutskever,cho,gnmt}.py end to end, in fresh processes."""

import json
import os

import pytest

from conftest import recipe_stop, run_recipe

def metrics(tmp_path):
    with open(tmp_path / "run" / "metrics.json") as f:
        return json.load(f)


# Nine epochs with beam-search evaluation and a TFLite conversion: 2.5 min alone, 4 min in the suite beside another
# worker. GNMT's recipe keeps its few-step runs in CI (the resume test below).
@pytest.mark.slow
def test_gnmt_demo_config_learns_the_task_and_exports(tmp_path):
    result = run_recipe("gnmt", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = metrics(tmp_path)
    assert measured["test_exact_match"] >= 0.9 and measured["test_bleu"] >= 90
    assert measured["test_perplexity"] < 1.5
    assert "BLEU = " in measured["sacrebleu"] and measured["test_chrf"] >= 90
    assert os.path.exists(tmp_path / "savedmodels" / "1" / "assets.extra" / "translation.tflite")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sutskever", "cho"])
def test_demo_config_learns_the_task(name, tmp_path):
    result = run_recipe(name, tmp_path, "--notflite")
    assert result.returncode == 0, result.stderr[-3000:]
    assert metrics(tmp_path)["test_exact_match"] >= 0.85  # measured 0.98 (Sutskever), 0.90 (Cho)


def smoke_run(name, tmp_path, *flags):
    result = run_recipe(name, tmp_path, "--epochs=1", "--steps_per_epoch=2", "--eval_sentences=4", "--notflite", *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test perplexity:" in result.stdout and metrics(tmp_path)["test_sentences"] == 4
    with open(tmp_path / "run" / "vocab.txt", encoding="utf-8") as f:
        assert f.read().splitlines()[:4] == ["[PAD]", "[UNK]", "[START]", "[END]"]
    return result


# GNMT's smoke run is the resume test's first run, in bfloat16; Cho's trains in float16 (evaluated and exported in
# float32); Sutskever's with the regularisers, the schedule and a decoding chosen on validation.
TRAINING_OPTIONS = ["--dropout=0.2", "--label_smoothing=0.1", "--lr_schedule=cosine", "--warmup_steps=1",
                    "--tune_alphas=0.2,1.0", "--tune_beam_sizes=1,2", "--tune_sentences=4"]


@pytest.mark.parametrize("name, flags", [("sutskever", TRAINING_OPTIONS), ("cho", ["--precision=float16"])])
def test_smoke_run_exports(name, flags, tmp_path):
    result = smoke_run(name, tmp_path, *flags)
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1"]
    if "--tune_alphas=0.2,1.0" in flags:
        tried = metrics(tmp_path)["validation_bleu"]
        assert sorted((t["beam_size"], t["alpha"]) for t in tried) == [(1, 0.2), (1, 1.0), (2, 0.2), (2, 1.0)]
        best = max(tried, key=lambda t: t["bleu"])
        assert (metrics(tmp_path)["beam_size"], metrics(tmp_path)["alpha"]) == (best["beam_size"], best["alpha"])
        assert f"chosen on validation: beam {best['beam_size']}, α {best['alpha']}" in result.stdout


def test_resume_continues_with_the_saved_vocabulary_and_averages_the_last_epochs(tmp_path):
    shared = ["--share_embeddings", "--units=32"]  # tied output: its input is --embedding_dim (32) wide
    smoke_run("gnmt", tmp_path, "--average_epochs=2", "--precision=bfloat16", *shared)
    resumed = run_recipe("gnmt", tmp_path, "--resume", "--epochs=2", "--steps_per_epoch=2", "--eval_sentences=4",
                     "--notflite", "--average_epochs=2", "--tune_sentences=4", *shared)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 2/2" in resumed.stdout and "Epoch 1/2" not in resumed.stdout
    assert sorted(os.listdir(tmp_path / "savedmodels")) == ["1", "2"]
    assert sorted(os.listdir(tmp_path / "run" / "epoch_weights")) == ["epoch_0001.weights.h5", "epoch_0002.weights.h5"]
    assert "Averaging the weights of 2 epochs: ['epoch_0001.weights.h5', 'epoch_0002.weights.h5']" in resumed.stderr
    # What the averaging gained, measured on validation beside the last epoch's own weights.
    last_epoch_bleu = metrics(tmp_path)["validation_bleu_last_epoch_weights"]
    assert f"{last_epoch_bleu:.2f} with the last epoch's" in resumed.stdout


@pytest.mark.parametrize("flags, message", [
    (["--dataset=multi30k", "--data_dir={tmp}"], "train_gnmt: error: no train.en.gz (or train.en) in {tmp}; "
                                                 "pass --download to fetch"),
    (["--dataset=files", "--data_dir={tmp}", "--source_language=xx"], "train_gnmt: error: {tmp}/train.xx: no such"),
])
def test_bad_set_up_stops_with_one_line(tmp_path, flags, message):
    stop = recipe_stop("gnmt", tmp_path, *(flag.format(tmp=tmp_path) for flag in flags))
    assert message.format(tmp=tmp_path) in stop
