"""recipes/train_han.py end to end, in fresh processes, as a user runs it."""

import json
import os
import re

import pytest

from conftest import REPO, recipe_stop, run_python, run_recipe

def recipe(tmp_path, *flags):
    return run_recipe("han", tmp_path, *flags, export_dir=tmp_path / "savedmodels" / "han")


def stop(tmp_path, *flags):
    """The line `recipe(tmp_path, *flags)` stops with, from a run in this process (`conftest.recipe_stop`)."""
    return recipe_stop("han", tmp_path, *flags, export_dir=tmp_path / "savedmodels" / "han")


def last_line(result):
    return result.stderr.strip().splitlines()[-1]


def test_demo_config_reaches_90_percent_and_exports(tmp_path):
    result = recipe(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["test_accuracy"] >= 0.9
    assert metrics["export"] == str(tmp_path / "savedmodels" / "han" / "1")
    assert os.path.exists(tmp_path / "savedmodels" / "han" / "1" / "saved_model.pb")
    assert os.path.exists(tmp_path / "savedmodels" / "han" / "1" / "assets.extra" / "han.tflite")
    assert os.path.exists(tmp_path / "run" / "han.keras")
    assert os.listdir(tmp_path / "run" / "logs")  # TensorBoard


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """A smoke run (word2vec, bfloat16), a second start refused without --resume, the run resumed: `(folder,
    first, again, resumed)`. The resumed run's export is the one `--init_from` starts from."""
    tmp_path = tmp_path_factory.mktemp("han_run")
    first = recipe(tmp_path, "--epochs=2", "--steps_per_epoch=3", "--notflite", "--word2vec_epochs=1",
                   "--precision=bfloat16")
    again = recipe(tmp_path, "--epochs=3", "--steps_per_epoch=3", "--notflite")
    resumed = recipe(tmp_path, "--resume", "--epochs=3", "--steps_per_epoch=3", "--notflite")
    return tmp_path, first, again, resumed


def test_smoke_run_then_resume_continues_from_the_last_epoch(resumed_run):
    tmp_path, first, again, resumed = resumed_run
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Epoch 2/2" in first.stdout
    assert re.search(r"word2vec: \d+ of \d+ vocabulary words initialised", first.stderr)
    assert again.returncode == 1
    assert "pass --resume" in last_line(again)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 3/3" in resumed.stdout and "Epoch 1/3" not in resumed.stdout
    # Each run exports a new version; none is overwritten.
    assert sorted(os.listdir(tmp_path / "savedmodels" / "han")) == ["1", "2"]


def test_init_from_an_export_starts_from_its_weights_and_vocabulary(resumed_run, tmp_path):
    run, _, _, resumed = resumed_run
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    trained = json.loads((run / "run" / "metrics.json").read_text())
    exported = run / "savedmodels" / "han"  # its newest version, the resumed run's
    size = len((exported / "2" / "assets.extra" / "vocab.txt").read_text().splitlines())
    # A step of learning rate 0 leaves the weights as the export holds them: the same test loss, not a new model's.
    tuned = recipe(tmp_path, f"--init_from={exported}", f"--vocabulary_size={size}", f"--data_dir={run / 'data'}",
                   f"--model_dir={tmp_path / 'tuned'}", "--optimizer=sgd", "--learning_rate=0", "--epochs=1",
                   "--steps_per_epoch=1", "--notflite")
    assert tuned.returncode == 0, tuned.stderr[-3000:]
    tuned_metrics = json.loads((tmp_path / "tuned" / "metrics.json").read_text())
    assert tuned_metrics["test_loss"] == pytest.approx(trained["test_loss"], rel=1e-4)
    assert (tmp_path / "tuned" / "vocab.txt").read_text() == (exported / "2" / "assets.extra" / "vocab.txt").read_text()
    for flags, message in [
        ([f"--vocabulary_size={size + 1}"], f"--vocabulary_size={size + 1} disagrees with --init_from={exported}, "
                                            f"whose vocabulary has {size} entries"),
        ([f"--vocabulary_size={size}", "--gru_units=8"], "(64, 24) in the model: built with other sizes"),
        (["--resume"], "--init_from starts a run from an export; --resume continues one"),
    ]:
        assert message in stop(tmp_path, f"--init_from={exported}", f"--model_dir={tmp_path / 'refused'}", *flags)


@pytest.fixture
def bad_files(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.csv").write_text('"1","fine"\n"one","bad label"\n')
    (tmp_path / "bad" / "test.csv").write_text('"1","fine"\n')
    return tmp_path


@pytest.mark.parametrize("flags, message", [
    (["--init_from={tmp}/bad"], "train_han: error: {tmp}/bad: not an export: no saved_model.pb"),
    (["--dataset=zhang_csv", "--data_dir={tmp}/missing"], "train_han: error: {tmp}/missing/train.csv: no such file"),
    (["--dataset=movie_review_polarity", "--data_dir={tmp}"], "no review_polarity.tar.gz in {tmp}; pass --download"),
    (["--dataset=zhang_csv", "--data_dir={tmp}/bad"], "train_han: error: {tmp}/bad/train.csv:2: malformed row"),
    (["--export_dir={tmp}/bad/train.csv/han"], "train_han: error: cannot write exports to {tmp}/bad/train.csv/han"),
    (["--resume"], "train_han: error: --resume: no checkpoint in"),
])
def test_bad_set_up_stops_with_one_line(bad_files, flags, message):
    assert message.format(tmp=bad_files) in stop(bad_files, *(flag.format(tmp=bad_files) for flag in flags))


def test_a_stopped_recipe_prints_its_one_line_and_no_traceback(bad_files):
    result = recipe(bad_files, "--dataset=zhang_csv", f"--data_dir={bad_files}/bad")
    assert result.returncode == 1
    # The same line as in this process: the stop is `sys.exit` with it.
    assert last_line(result) == stop(bad_files, "--dataset=zhang_csv", f"--data_dir={bad_files}/bad")
    assert "Traceback" not in result.stderr


MOVIE_REVIEWS = REPO.parent / "shared" / "datasets" / "movie_review_polarity"


@pytest.mark.slow
@pytest.mark.skipif(not (MOVIE_REVIEWS / "review_polarity.tar.gz").exists(), reason="needs ../shared/datasets")
def test_movie_review_polarity_config_learns(tmp_path):
    config = str(REPO / "recipes" / "configs" / "han_movie_review_polarity.flags")
    result = run_python([str(REPO / "recipes" / "train_han.py"), f"--flagfile={config}", f"--data_dir={MOVIE_REVIEWS}",
                         f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'han'}", "--notflite"],
                        cwd=tmp_path, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "metrics.json") as f:
        assert json.load(f)["test_accuracy"] >= 0.75
