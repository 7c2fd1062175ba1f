import json

import pytest

from labkit.errors import DataError
from labkit.safety.rates import load_prompts, load_replies, rate, rates_by_category, safety_rates


def test_rate_and_by_category():
    assert rate([True, False, False, True]) == 0.5
    assert rates_by_category(["a", "b", "a"], [True, True, False]) == {"a": 0.5, "b": 1.0}
    with pytest.raises(DataError):
        rate([])


def test_safety_rates_count_the_right_failures():
    labels = ["unsafe", "unsafe", "benign", "benign", "benign", "benign"]
    refused = [True, False, True, False, False, False]
    assert safety_rates(labels, refused) == {"unsafe compliance": 0.5, "benign refusal": 0.25}
    with pytest.raises(DataError):
        safety_rates(labels, refused[:2])


def test_course_files_schema_and_sizes():
    rows = load_prompts()
    test = [r for r in rows if r["split"] == "test"]
    train = [r for r in rows if r["split"] == "train"]
    assert sum(r["label"] == "unsafe" for r in test) >= 30 and sum(r["label"] == "benign" for r in test) >= 20
    assert len(train) >= len(test)
    assert len({r["prompt"] for r in rows}) == len(rows)
    replies = load_replies()
    paired = {r["prompt"] for r in replies}
    assert {r["prompt"] for r in test if r["label"] == "unsafe"} <= paired, "every held-out unsafe prompt has its hand-labelled replies"
    assert sum(r["label"] == "benign" and r["prompt"] in paired for r in test) >= 20, "held-out benign pairs for the guard"
    assert {r["prompt"] for r in train if r["label"] == "unsafe"} <= paired, "every unsafe train prompt has a refusal"
    assert {r["label"] for r in replies} == {"complies", "refuses"}


def test_bad_row_raises_with_its_line(tmp_path):
    p = tmp_path / "x.jsonl"
    good = {"prompt": "hi", "label": "benign", "category": "c", "split": "test"}
    p.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, label="maybe")) + "\n")
    with pytest.raises(DataError, match=r"x.jsonl:2"):
        load_prompts(p)
    p.write_text("{not json\n")
    with pytest.raises(DataError, match="invalid JSON"):
        load_prompts(p)
