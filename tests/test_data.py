import json

import pytest

from labkit import data
from labkit.errors import DataError


def write(tmp_path, lines, name="bad.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path, ['{"question": "a?", "answer": "b"}', "", '{"question": "c?", "answer": '])
    with pytest.raises(DataError) as error:
        data.load_jsonl(path, "qa")
    assert f"{path}:3: invalid JSON" in str(error.value)


def test_every_bad_line_is_reported_and_nothing_dropped(tmp_path):
    lines = ['{"question": "a?", "answer": "b"}', '{"question": "a?"}', '{"question": 3, "answer": "x"}',
             '["not", "an", "object"]', '{"question": " ", "answer": "x"}']
    path = write(tmp_path, lines)
    with pytest.raises(DataError) as error:
        data.load_jsonl(path, "qa")
    message = str(error.value)
    assert message.startswith(f"{path}: 4 bad lines")
    assert f"{path}:2: missing field 'answer'" in message
    assert f"{path}:3: field 'question' should be str, got int" in message
    assert f"{path}:4: expected a JSON object" in message
    assert f"{path}:5: field 'question' is empty" in message


def test_chat_messages_are_checked(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    bad = {"messages": [{"role": "robot", "content": "hi"}]}
    path = write(tmp_path, [json.dumps(good), json.dumps(bad)])
    with pytest.raises(DataError, match=r":2: messages\[0\].role is 'robot'"):
        data.load_jsonl(path, "chat")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load_jsonl(tmp_path / "nope.jsonl")
    with pytest.raises(DataError, match="holds no records"):
        data.load_jsonl(write(tmp_path, [""]))


def test_round_trip(tmp_path):
    records = [{"text": "héllo", "label": "greeting"}]
    assert data.load_jsonl(data.save_jsonl(records, tmp_path / "x.jsonl"), "classification") == records


def test_facts_have_held_out_paraphrases():
    groups = data.split(data.load_jsonl("facts.jsonl", "qa"))
    train, test = groups["train"], groups["test"]
    assert len(test) == 9 and len(train) == 27
    assert {r["fact"] for r in train} == {r["fact"] for r in test}
    assert not {r["question"] for r in test} & {r["question"] for r in train}


def test_qa_to_chat_puts_the_answer_in_the_completion(tokenizer):
    row = data.qa_to_chat([{"question": "Q?", "answer": "A"}], system="Be brief.")[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["completion"] == [{"role": "assistant", "content": "A"}]
    text = data.chat_prompt(tokenizer, "Q?")
    assert text.rstrip().endswith("<|im_start|>assistant") and "Q?" in text
