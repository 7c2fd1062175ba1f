"""The learner's own file: its schema told from its fields, an upload or a path chosen, and planted
copies of held-out records found again by the pipeline's de-duplication."""

import json
from types import SimpleNamespace

import pytest

from labkit import data
from labkit.capstone import ownfile
from labkit.errors import DataError
from labkit.pipeline import stages
from labkit.pipeline.runconfig import parse_config


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("record, schema", [
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}, "chat"),
    ({"question": "q?", "answer": "a"}, "qa"),
    ({"prompt": "p", "completion": "c", "split": "test"}, "prompt-completion"),
])
def test_the_schema_is_told_from_the_first_record(tmp_path, record, schema):
    assert ownfile.detect_schema(write(tmp_path / "mine.jsonl", ["", record])) == schema


def test_a_record_of_no_schema_is_named_with_its_line(tmp_path):
    with pytest.raises(DataError) as raised:
        ownfile.detect_schema(write(tmp_path / "mine.jsonl", ["  ", {"input": "x", "output": "y"}]))
    assert f"{tmp_path}/mine.jsonl:2" in str(raised.value) and "['input', 'output']" in str(raised.value)
    assert "'messages'" in raised.value.fix
    with pytest.raises(DataError, match="mine.jsonl:1: invalid JSON"):
        ownfile.detect_schema(write(tmp_path / "mine.jsonl", ['{"question": ']))


def test_the_course_file_is_chat():
    assert ownfile.detect_schema("veloria_chat.jsonl") == "chat"


def test_an_upload_wins_over_a_path_and_a_path_over_the_course_file(tmp_path):
    content = b'{"question": "q?", "answer": "a"}\n'
    v8 = SimpleNamespace(value=({"name": "mine.jsonl", "content": memoryview(content)},))
    v7 = SimpleNamespace(value={"old.jsonl": {"content": content}})
    path, source = ownfile.choose_file(v8, path="elsewhere.jsonl", folder=tmp_path)
    assert (path, source) == (tmp_path / "mine.jsonl", "uploaded") and path.read_bytes() == content
    assert ownfile.choose_file(v7, folder=tmp_path)[0].read_bytes() == content
    other = write(tmp_path / "other.jsonl", [{"question": "q?", "answer": "a"}])
    assert ownfile.choose_file(SimpleNamespace(value=()), path=other) == (other, "path")
    assert ownfile.choose_file(None) == (data.data_path("veloria_chat.jsonl"), "course file")
    with pytest.raises(DataError, match="nope.jsonl: file not found"):
        ownfile.choose_file(None, path=tmp_path / "nope.jsonl")


@pytest.mark.parametrize("schema", ["chat", "qa"])
def test_planted_copies_are_all_found_by_the_pipeline(tmp_path, schema):
    if schema == "chat":
        records = data.load_jsonl("veloria_chat.jsonl", schema="chat")
    else:
        records = [{"question": f"Q{i}?", "answer": f"A{i}", "split": "test" if i % 4 == 0 else "train"} for i in range(20)]
    planted, copies = ownfile.plant_test_copies(records, 4)
    assert len(copies) == 4 and all(c["split"] == "train" for c in copies) and planted[: len(records)] == records
    assert len({json.dumps(c, sort_keys=True) for c in copies}) == 4
    path = write(tmp_path / "planted.jsonl", planted)
    values = {"profile": "ci", "model": {"name": "tiny-llama"},
              "data": {"train_file": str(path), "schema": schema, "dedupe_against_test": True}}
    counts = stages.prepare_data(parse_config(values))[2]
    clean = stages.prepare_data(parse_config({**values, "data": {**values["data"], "train_file": "veloria_chat.jsonl"}}))[2] \
        if schema == "chat" else {"train_also_in_test": 0, "test": 5}
    assert counts["train_also_in_test"] - clean["train_also_in_test"] == 4 and counts["test"] == clean["test"]
    with pytest.raises(ValueError, match="k must be between 1"):
        ownfile.plant_test_copies(records, 0)
