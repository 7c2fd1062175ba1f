"""tools/assert_lint.py: checks that cannot fail are flagged, real ones are not, and the course has none."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import assert_lint  # noqa: E402


@pytest.mark.parametrize("source", [
    "assert 0 <= accuracy <= 1",
    "assert 0 < share < 100",
    "assert 0 <= n <= len(items)",
    "assert True",
    "assert table == table",
    "exercises.check(x, ok=x is not None and 0 <= x <= 1)",
    "exercises.check(x, ok=True)",
    "exercises.check(x, ok=x is not None)",
])
def test_trivially_true_checks_are_flagged(source):
    (check,) = assert_lint.checks_in_source(source)
    assert check.flag, f"{source!r} should be flagged"


@pytest.mark.parametrize("source", [
    "assert accuracy >= base + 0.1",
    "assert 0.2 <= share <= 0.8",  # a real band, not the value's own range
    "assert after < 0.7 * before, 'distillation should close part of the gap'",
    "exercises.check(x, expected, tolerance=1e-3)",
    "exercises.check(x, ok=x is not None and x < ngram_ppl)",
])
def test_real_checks_pass(source):
    (check,) = assert_lint.checks_in_source(source)
    assert not check.flag, check.flag


def test_the_lint_reads_cells_with_magics_and_finds_every_check():
    found = assert_lint.checks_in_source("%matplotlib inline\nassert a > 1\nif x:\n    exercises.check(x, 2)\n")
    assert [c.kind for c in found] == ["assert", "exercise"]


def test_no_notebook_has_a_check_that_cannot_fail(capsys):
    assert assert_lint.main([]) == 0, capsys.readouterr().out
    assert "asserts" in capsys.readouterr().out
