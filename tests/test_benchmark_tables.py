"""benchmarks/tables.py: the README's benchmark tables are its output from the JSON files a run wrote."""

import subprocess
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import tables  # noqa: E402


def test_readme_tables_are_generated_from_the_results_files():
    done = subprocess.run([sys.executable, "benchmarks/tables.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_table_has_a_header_a_rule_and_a_line_a_row():
    markdown = tables.table([("a", lambda r: r[0]), ("b", lambda r: f"{r[1]:.1f}")], [("x", 1.0), ("y", 2.25)])
    assert markdown == "| a | b |\n|---|---|\n| x | 1.0 |\n| y | 2.2 |"


def _row(model, precision, zoo, plain, pytorch):
    return {"model": model, "precision": precision, "zoo": {"per_second": zoo},
            "plain_keras": {"per_second": plain}, "pytorch": {"per_second": pytorch}}


def test_bfloat16_speed_ups_divide_each_ways_rate_by_its_float32_rate():
    rows = [_row("gnmt", "float32", 100, 80, 50), _row("gnmt", "bfloat16", 150, 100, 100),
            _row("han", "float32", 10, 10, 10)]  # no bfloat16 row: left out
    assert tables.precision_speedups(rows).splitlines()[2:] == ["| gnmt | 1.50× | 1.25× | 2.00× |"]


def test_only_the_generated_part_is_rewritten():
    readme = f"intro\n{tables.BEGIN}\nold\n{tables.END}\nafter\n"
    assert tables.rewritten_readme(readme, f"{tables.BEGIN}\nnew\n{tables.END}") == \
        f"intro\n{tables.BEGIN}\nnew\n{tables.END}\nafter\n"
