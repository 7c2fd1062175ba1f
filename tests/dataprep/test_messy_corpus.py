import json

from labkit.data import data_dir, load_jsonl
from labkit.dataprep import cleaning, messy_corpus


def test_committed_files_are_what_the_generator_writes():
    records, truth = messy_corpus.make_raw_corpus(seed=0)
    assert load_jsonl("raw_instructions.jsonl") == records
    assert json.loads((data_dir() / "raw_instructions_planted.json").read_text()) == truth


def test_planted_counts_and_one_defect_per_record():
    records, truth = messy_corpus.make_raw_corpus(seed=0)
    assert {kind: len(items) for kind, items in truth.items()} == messy_corpus.COUNTS
    ids = [r["id"] for r in records]
    assert len(ids) == len(set(ids))
    touched = []
    for kind, items in truth.items():
        for item in items:
            touched += item if kind in ("exact_duplicate", "near_duplicate", "paraphrase") else [
                item[0] if isinstance(item, list) else item]
    assert len(touched) == len(set(touched))  # no record carries two defects
    assert set(touched) <= set(ids)


def test_planted_defects_are_what_they_say():
    records, truth = messy_corpus.make_raw_corpus(seed=0)
    by_id = {r["id"]: r for r in records}
    for original, copy in truth["exact_duplicate"]:
        assert {**by_id[original], "id": ""} == {**by_id[copy], "id": ""}
    for original, copy in truth["near_duplicate"] + truth["paraphrase"]:
        assert by_id[original]["instruction"] != by_id[copy]["instruction"]
        assert by_id[original]["response"] == by_id[copy]["response"]
    for kind in ("email", "phone", "card", "decoy_number"):
        for record_id, value in truth[kind]:
            assert value in by_id[record_id]["instruction"]
    for record_id, clean in truth["broken_markup"]:
        assert "<" in by_id[record_id]["instruction"] and cleaning.strip_markup(by_id[record_id]["instruction"]) == clean


def test_near_copy_makes_small_edits():
    import random

    text = "one two three four five six seven eight nine ten"
    copy = messy_corpus.near_copy(text, random.Random(0))
    assert copy != text and abs(len(copy.split()) - 10) <= 2
