"""The README and docs: the model table is the registry's, the README stays short, no page is a diary."""

import re

import pytest

from conftest import REPO
from zoo import registry

PAGES = [REPO / "README.md", REPO / "benchmarks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def readme_models():
    """The first cells of the README's model table: (name, title, paper, module, recipe) a row."""
    rows = []
    for line in (REPO / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| `(\w+)` ([^|]+) \| ([^|]+) \| `([^`]+)` \| `([^`]+)` \|", line)
        if match:
            rows.append(tuple(cell.strip() for cell in match.groups()))
    return rows


def test_the_readme_model_table_is_the_registry():
    assert readme_models() == [(m.name, m.title, m.paper, m.module, m.recipe) for m in registry.MODELS]


def test_the_readme_is_at_most_200_lines():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 200


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_no_page_speaks_of_sessions_issues_or_who_did_what(page):
    text = page.read_text(encoding="utf-8")
    for pattern in (r"\bsessions?\b(?! loader)", r"\bissues? \d+", r"\bI (tried|checked|measured|ran|found)\b", r"\bwe\b"):
        assert not re.search(pattern, text, re.IGNORECASE), (pattern, re.search(pattern, text, re.IGNORECASE))


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    prose = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", prose):
        assert (page.parent / target).exists(), target
