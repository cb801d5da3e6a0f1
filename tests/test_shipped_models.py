"""The shipped models (savedmodels/<name>/ with a card.json) answer their card's example inputs as recorded.

Loaded in a fresh process without `zoo`, as TF Serving or a user's script would: a change that breaks a shipped
export, or a TensorFlow that reads it differently, fails here. `benchmarks/model_cards.py` recomputes the cards'
test metrics on the full test sets (by hand: it needs the data sets).
"""

import json
import sys

import pytest

from conftest import REPO, run_python

sys.path.insert(0, str(REPO / "benchmarks"))
import model_cards  # noqa: E402

SHIPPED = model_cards.shipped_models()

ANSWER_ALL = """
import json, sys
sys.path.insert(0, "benchmarks")
import model_cards
answers = {name: model_cards.example_answers(model_cards.read_card(name),
                                             model_cards.tf.saved_model.load(model_cards.newest_version(name)))
           for name in model_cards.shipped_models()}
assert "zoo" not in sys.modules
print(json.dumps(answers))
"""


@pytest.fixture(scope="module")
def answers():
    result = run_python(["-c", ANSWER_ALL], cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_answers_its_examples_as_recorded(answers, name):
    recorded = model_cards.read_card(name)["examples"]
    assert len(recorded) >= 5
    assert model_cards.same_answers(answers[name], recorded)


@pytest.mark.parametrize("name", SHIPPED)
def test_the_model_card_is_its_card_json(name):
    with open(model_cards.markdown_path(name), encoding="utf-8") as f:
        assert f.read() == model_cards.markdown(model_cards.read_card(name))


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_model_refuses_a_bad_row_alone(answers, name):
    # Each card's examples hold an empty input (a text, or a line of 0 points): that row alone is refused, with
    # the export's message.
    refused = [a for a in answers[name] if not a["valid"]]
    assert [a["input"] for a in refused] in ([""], [0]) and refused[0]["error"]
    assert all(a["output"] and not a["error"] for a in answers[name] if a["valid"])
