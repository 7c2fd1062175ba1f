import json

import pytest

from labkit import data, models
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


def turn(role, content):
    return {"role": role, "content": content}


def test_chat_messages_are_checked(tmp_path):
    good = {"messages": [turn("user", "hi"), turn("assistant", "hello")]}
    bad = {"messages": [turn("robot", "hi")]}
    path = write(tmp_path, [json.dumps(good), json.dumps(bad)])
    with pytest.raises(DataError, match=r":2: messages\[0\].role is 'robot'"):
        data.load_jsonl(path, "chat")


BAD_CONVERSATIONS = [  # (messages, what the error must say)
    ([turn("user", "Capital of Veloria?")], "the conversation has no assistant turn"),
    ([turn("system", "Be brief."), turn("user", "hi"), turn("assistant", "hello"), turn("user", "and?")],
     "the conversation ends with a user turn"),
    ([turn("user", "hi"), turn("narrator", "meanwhile")], "messages[1].role is 'narrator'"),
    ([turn("user", "hi"), turn("assistant", "  ")], "messages[1].content is empty"),
    ("user: hi", "field 'messages' should be list, got str"),
    ([], "field 'messages' is empty"),
    ([turn("user", "hi"), {"role": "assistant"}], "messages[1] must be an object with 'role' and 'content'"),
    ([{"text": "hi"}], "messages[0] must be an object with 'role' and 'content'"),
    ([turn("user", "hi"), turn("assistant", 42)], "messages[1].content must be a string, got int"),
    ([turn("user", "hi"), turn("assistant", "hello"), turn("system", "now be rude")],
     "messages[2] is a system message; only the first message may be one"),
    ([turn("assistant", "hello"), turn("user", "hi")], "messages[0]: role 'assistant' comes first; expected 'user'"),
    ([turn("user", "hi"), turn("user", "hello?"), turn("assistant", "yes")],
     "messages[1]: role 'user' follows a 'user' message; expected 'assistant'"),
]


def test_every_bad_conversation_is_named_by_file_and_line(tmp_path):
    good = {"messages": [turn("system", "Be brief."), turn("user", "hi"), turn("assistant", "hello")]}
    lines = [json.dumps(good)] + [json.dumps({"messages": messages}) for messages, _ in BAD_CONVERSATIONS]
    path = write(tmp_path, lines, name="chat.jsonl")
    with pytest.raises(DataError) as error:
        data.load_jsonl(path, "chat")
    lines = str(error.value).splitlines()
    assert lines[0] == f"{path}: {len(BAD_CONVERSATIONS)} bad lines:"
    for number, (_, problem) in enumerate(BAD_CONVERSATIONS[:10], start=2):  # line 1 is the good one
        assert lines[number - 1].strip().startswith(f"{path}:{number}: {problem}"), lines[number - 1]
    assert lines[11].strip() == f"... and {len(BAD_CONVERSATIONS) - 10} more"
    assert lines[-1].strip().startswith("fix:")
    for messages, problem in BAD_CONVERSATIONS:  # the rows past the first ten too, one by one
        assert problem in data.check_record({"messages": messages}, data.SCHEMAS["chat"])


def test_a_good_conversation_passes():
    messages = [turn("system", "Be brief."), turn("user", "hi"), turn("assistant", "hello"),
                turn("user", "and you?"), turn("assistant", "fine")]
    assert data.check_record({"messages": messages}, data.SCHEMAS["chat"]) is None


def loss_tokens(tokenizer, example) -> list[str]:
    """The decoded runs of consecutive tokens that are in the loss."""
    runs, run = [], []
    for token, in_loss in zip(example["input_ids"], example["assistant_masks"]):
        if in_loss:
            run.append(token)
        elif run:
            runs, run = runs + [tokenizer.decode(run)], []
    return runs + ([tokenizer.decode(run)] if run else [])


def test_the_loss_is_on_the_assistant_replies_and_their_end_token_only(tokenizer):
    messages = [turn("system", "Answer in a few words."), turn("user", "What is the capital of Veloria?"),
                turn("assistant", "Tarsk, on the southern coast.")]
    example = data.tokenize_chat(tokenizer, messages)
    assert example["input_ids"] == tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"]
    assert loss_tokens(tokenizer, example) == ["Tarsk, on the southern coast." + tokenizer.eos_token]
    masked = tokenizer.decode([t for t, m in zip(example["input_ids"], example["assistant_masks"]) if not m])
    assert masked == ("<|im_start|>system\nAnswer in a few words.<|im_end|>\n<|im_start|>user\n"
                      "What is the capital of Veloria?<|im_end|>\n<|im_start|>assistant\n\n")


def test_every_assistant_turn_of_a_long_conversation_is_in_the_loss(tokenizer):
    replies = ["Tarsk.", "About 640,000 people.", "The lune, since 1850."]
    messages = [turn("user", "Capital of Veloria?"), turn("assistant", replies[0]),
                turn("user", "How many live there?"), turn("assistant", replies[1]),
                turn("user", "And the currency?"), turn("assistant", replies[2])]
    example = data.tokenize_chat(tokenizer, messages)
    assert loss_tokens(tokenizer, example) == [r + tokenizer.eos_token for r in replies]
    users = {tokenizer.decode(tokenizer(m["content"])["input_ids"]) for m in messages if m["role"] == "user"}
    assert not any(u in run for u in users for run in loss_tokens(tokenizer, example))
    assert "You are a helpful AI assistant" in tokenizer.decode(example["input_ids"])  # the template's default system


def test_chat_dataset_adds_the_system_prompt_only_where_there_is_none(tokenizer):
    records = [{"messages": [turn("user", "hi"), turn("assistant", "hello")]},
               {"messages": [turn("system", "Own rules."), turn("user", "hi"), turn("assistant", "hello")]}]
    rows = data.chat_dataset(tokenizer, records, system="Be brief.")
    texts = [tokenizer.decode(row["input_ids"]) for row in rows]
    assert "Be brief." in texts[0] and "Own rules." in texts[1] and "Be brief." not in texts[1]
    assert rows.column_names == ["input_ids", "assistant_masks"]


def test_a_template_that_rewrites_earlier_turns_is_refused():
    changed = models.load_tokenizer(models.TINY_LLAMA)  # a fresh copy: the session's tokenizer stays as it is
    changed.chat_template = ("{% for m in messages %}{% if loop.last or m['role'] != 'assistant' %}"
                             "{{ m['role'] + ': ' + m['content'] + '\n' }}{% endif %}{% endfor %}"
                             "{% if add_generation_prompt %}assistant: {% endif %}")
    messages = [turn("user", "a?"), turn("assistant", "b"), turn("user", "c?"), turn("assistant", "d")]
    with pytest.raises(ValueError, match="not prefix-preserving"):
        data.tokenize_chat(changed, messages)


def test_the_course_chat_file_is_what_its_script_writes():
    import runpy

    script = runpy.run_path(str(data.data_dir().parent / "tools" / "make_veloria_chat.py"))
    records = data.load_jsonl("veloria_chat.jsonl", "chat")
    assert records == script["make_veloria_chat"]()
    groups = data.split(records)
    assert len(groups["train"]) == 60 and len(groups["test"]) == 30
    last_questions = {r["messages"][-2]["content"] for r in groups["test"]}
    train_questions = {m["content"] for r in groups["train"] for m in r["messages"] if m["role"] == "user"}
    assert not last_questions & train_questions  # held-out paraphrases, never asked in training


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


def test_interleave_spreads_every_group_evenly():
    refusals, answers = [f"r{i}" for i in range(60)], [f"a{i}" for i in range(110)]
    mixed = data.interleave([refusals, answers], seed=3)
    assert sorted(mixed) == sorted(refusals + answers)  # nothing lost or repeated
    per_batch = [sum(x.startswith("r") for x in mixed[i:i + 8]) for i in range(0, 168, 8)]
    assert min(per_batch) >= 2 and max(per_batch) <= 3, per_batch  # 60/170 of 8 is 2.8
    assert data.interleave([refusals, answers], seed=3) == mixed
    assert data.interleave([refusals, answers], seed=4) != mixed


def test_allowed_values_are_checked_with_the_line(tmp_path):
    path = write(tmp_path, ['{"label": "unsafe"}', '{"label": "maybe"}'])
    with pytest.raises(DataError, match=r"bad.jsonl:2.*'maybe', not one of 'unsafe', 'benign'|'maybe', not one of 'unsafe', 'benign'.*bad.jsonl:2"):
        data.load_jsonl(path, {"label": str}, allowed={"label": ("unsafe", "benign")})
    assert data.load_jsonl(path, {"label": str}, allowed={"label": ("unsafe", "maybe")})[1]["label"] == "maybe"
