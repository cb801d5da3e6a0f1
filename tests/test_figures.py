"""docs/figures.py: the pictures of docs/graves.md are the export's own lines, at the biases and in the styles they
say, and a line the model did not finish stops the script instead of being drawn."""

import sys

import keras
import numpy as np
import pytest
from absl import flags
from PIL import Image

import zoo
from conftest import REPO
from zoo import export, text, web
from zoo.models import GravesSynthesisModel

sys.path.insert(0, str(REPO / "docs"))
import figures  # noqa: E402

ALPHABET = ["[PAD]", "[UNK]", " ", "a", "b", "c"]
TEXT, SEED = "ab ca", 4


def synthesis_export(directory, window_step):
    keras.utils.set_random_seed(5)
    model = GravesSynthesisModel(len(ALPHABET), units=8, num_layers=2, num_components=2, window_components=2,
                                 window_step=window_step)
    model(model.example_input())
    return export.export_synthesis(model, text.CharacterTokenizer(ALPHABET), (0.5, 0.0), (2.0, 2.0), str(directory),
                                   tflite=False)


@pytest.fixture(scope="module")
def writer(tmp_path_factory):
    # window_step 0.05: the untrained window moves a character in about 20 points, so its lines end by the rule.
    path = synthesis_export(tmp_path_factory.mktemp("figures"), 0.05)
    web.write_styles(path, ["ca b", "bac"], seed=0)
    return zoo.load(path)


def test_the_pictures_hold_the_exports_own_lines(writer, tmp_path):
    biased, primed = figures.written(writer, TEXT, SEED)
    for line, bias in zip(biased, figures.BIASES):
        np.testing.assert_array_equal(line.points, writer.write(TEXT, bias, SEED).points)
    styles = figures.styles(writer)
    assert [style.text for style in styles] == ["ca b", "bac"] and len(primed) == 2
    for line, style in zip(primed, styles):
        np.testing.assert_array_equal(line.points, writer.write(TEXT, figures.PRIMED_BIAS, SEED, style=style).points)
    assert all(line.text == TEXT for line in biased + primed)

    paths = figures.draw(biased, primed, str(tmp_path), "x")
    assert [p.rsplit("/", 1)[1] for p in paths] == ["x_bias.png", "x_primed.png", "x_alignment.png"]
    one_line = Image.open(biased[0].to_png(str(tmp_path / "one.png"))).size[1]
    heights = [Image.open(p).size[1] for p in paths[:2]]
    # Lines are stacked: three rows are over twice one line's height, two rows over one and a half.
    assert heights[0] > 2 * one_line and heights[1] > 1.5 * one_line, (heights, one_line)


def test_an_unfinished_line_stops_the_script(tmp_path):
    # A window that barely moves never reaches the text's end within the export's step cap.
    writer = zoo.load(synthesis_export(tmp_path, 1e-4))
    with pytest.raises(SystemExit, match=r"biased lines: the model ran out of steps on \['ab ca', 'ab ca', 'ab ca'\]"):
        figures.written(writer, TEXT, SEED)


def test_a_refused_text_stops_the_script_with_the_exports_reason(writer):
    with pytest.raises(SystemExit, match="biased lines: the export refused the text: text longer than 120 characters"):
        figures.written(writer, "a" * 121, SEED)


def test_an_export_without_styles_is_told_how_to_write_them(tmp_path):
    writer = zoo.load(synthesis_export(tmp_path, 0.05))
    with pytest.raises(figures.app.UsageError, match="styles.json is missing: write the styles first"):
        figures.styles(writer)


def test_an_unreadable_export_stops_the_script_in_one_line(tmp_path):
    with pytest.raises(figures.app.UsageError, match="no such directory"):
        figures.readable(str(tmp_path / "missing"))


def test_importing_the_script_leaves_absls_flags_to_the_recipes():
    # The recipes define --seed and --export in the same process (tests/test_recipe_flags.py).
    assert "seed" not in flags.FLAGS and "out_dir" not in flags.FLAGS
