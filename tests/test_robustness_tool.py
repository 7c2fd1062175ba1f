"""tools/robustness.py: a run passes or fails on the notebook's asserts and reports what it measured."""

import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import robustness  # noqa: E402


def notebook(path: Path, last: str) -> Path:
    cells = [nbformat.v4.new_code_cell(source) for source in ("x = 1", "y = 2", "z = 3", last)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    return path


def test_a_run_reports_its_effect_or_its_failed_assertion(tmp_path):
    good = notebook(tmp_path / "98_good.ipynb",
                    'import os\nprint(f"seed offset {os.environ[\'LABKIT_SEED\']}, accuracy 0.9")\nassert True')
    bad = notebook(tmp_path / "99_bad.ipynb", 'assert 1 == 2, "the effect vanished"')
    passed = robustness.run_one(good, "seed2", tmp_path)
    failed = robustness.run_one(bad, "base", tmp_path)
    assert passed.passed and passed.detail == "seed offset 2, accuracy 0.9"
    assert not failed.passed and "the effect vanished" in failed.detail
    text = robustness.report([passed, failed], ["base", "seed2"], wall=61.0, cpu="test CPU")
    assert "**1 of 2 runs passed**" in text and "| 99_bad | **FAIL**" in text
