import json

import pytest

from labkit.errors import DataError
from labkit.safety.rates import load_prompts, rate, rates_by_category


def test_rate_and_by_category():
    assert rate([True, False, False, True]) == 0.5
    assert rates_by_category(["a", "b", "a"], [True, True, False]) == {"a": 0.5, "b": 1.0}
    with pytest.raises(DataError):
        rate([])


def test_course_file_schema():
    rows = load_prompts("data/safety_prompts.jsonl")
    test = [r for r in rows if r["split"] == "test"]
    assert {r["label"] for r in test} == {"unsafe", "benign"}
    assert len({r["prompt"] for r in rows}) == len(rows)


def test_bad_row_raises(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text(json.dumps({"prompt": "hi", "label": "maybe", "category": "c", "split": "test"}))
    with pytest.raises(DataError):
        load_prompts(p)
