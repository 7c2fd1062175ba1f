"""Course data: JSONL files checked line by line, turned into chats and ``datasets.Dataset``.

Every record is checked against a schema (field name -> type). A bad line is reported as
``file:line: what is wrong``; nothing is silently dropped, because a fine-tune on quietly
truncated data teaches the wrong lesson.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

ROLES = ("system", "user", "assistant")

# Field name -> required type. Extra fields are allowed (a learner's file may carry ids, tags ...).
SCHEMAS: dict[str, dict[str, type]] = {
    "qa": {"question": str, "answer": str},
    "text": {"text": str},
    "chat": {"messages": list},
    "prompt-completion": {"prompt": str, "completion": str},
    "preference": {"prompt": str, "chosen": str, "rejected": str},
    "classification": {"text": str, "label": str},
}


class DataError(ValueError):
    """A data file that does not match its schema; the message names file and line."""


def data_dir() -> Path:
    """The course's ``data/`` folder (``$LABKIT_DATA`` overrides, e.g. for a learner's own files)."""
    return Path(os.environ.get("LABKIT_DATA", Path(__file__).resolve().parents[1] / "data"))


def data_path(name: str | os.PathLike) -> Path:
    """A course file by name (``"facts.jsonl"``) or any existing path."""
    path = Path(name)
    return path if path.exists() else data_dir() / path


def _check_messages(messages: list) -> str | None:
    """What is wrong with a conversation, or None.

    A training conversation is an optional system message, then user and assistant turns taking
    turns, ending with the assistant: the assistant's replies are what the model learns, so a
    conversation that ends on an unanswered user turn teaches nothing from its last turn.
    """
    if not messages:
        return "field 'messages' is empty"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not {"role", "content"} <= set(message):
            return f"messages[{i}] must be an object with 'role' and 'content'"
        if message["role"] not in ROLES:
            return f"messages[{i}].role is {message['role']!r}; expected one of {', '.join(ROLES)}"
        if not isinstance(message["content"], str):
            return f"messages[{i}].content must be a string, got {type(message['content']).__name__}"
        if not message["content"].strip():
            return f"messages[{i}].content is empty"
    return _check_turn_order([m["role"] for m in messages])


def _check_turn_order(roles: list[str]) -> str | None:
    first = 1 if roles[0] == "system" else 0
    for i, role in enumerate(roles[first:], start=first):
        expected = "user" if (i - first) % 2 == 0 else "assistant"
        if role == "system":
            return f"messages[{i}] is a system message; only the first message may be one"
        if role != expected:
            where = f"follows a {roles[i - 1]!r} message" if i > first else "comes first"
            return (f"messages[{i}]: role {role!r} {where}; expected {expected!r} (after an optional system "
                    "message, user and assistant turns alternate, starting with the user)")
    if roles[-1] != "assistant":
        return ("the conversation has no assistant turn" if "assistant" not in roles else
                "the conversation ends with a user turn; end it with the assistant's reply (what the model learns)")
    return None


def check_record(record: Any, schema: dict[str, type]) -> str | None:
    """What is wrong with one record, or None if it fits the schema."""
    if not isinstance(record, dict):
        return f"expected a JSON object, got {type(record).__name__}"
    for field, kind in schema.items():
        if field not in record:
            return f"missing field {field!r} (expected fields: {', '.join(schema)})"
        value = record[field]
        if not isinstance(value, kind):
            return f"field {field!r} should be {kind.__name__}, got {type(value).__name__}"
        if kind is str and not value.strip():
            return f"field {field!r} is empty"
    if "messages" in schema:
        return _check_messages(record["messages"])
    return None


def load_jsonl(name: str | os.PathLike, schema: str | dict[str, type] | None = None) -> list[dict]:
    """Read a JSONL file, checking every line; raise :class:`DataError` listing each bad line.

    Blank lines are allowed (they hold no record). ``schema`` is a name from :data:`SCHEMAS` or a
    ``{field: type}`` dict.
    """
    path = data_path(name)
    if not path.exists():
        raise DataError(f"{path}: no such file (course files live in {data_dir()})")
    fields = SCHEMAS[schema] if isinstance(schema, str) else (schema or {})
    records, problems = [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"{path}:{number}: invalid JSON ({error.msg} at column {error.colno})")
                continue
            problem = check_record(record, fields)
            if problem:
                problems.append(f"{path}:{number}: {problem}")
            else:
                records.append(record)
    if problems:
        shown = "\n".join(problems[:10]) + (f"\n... and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise DataError(f"{len(problems)} bad line(s) in {path}:\n{shown}")
    if not records:
        raise DataError(f"{path}: the file holds no records")
    return records


def save_jsonl(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write records as JSONL (UTF-8, one object per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def qa_to_chat(records: Iterable[dict], system: str | None = None) -> list[dict]:
    """Question/answer records as TRL's conversational prompt-completion format.

    The answer is the completion, so TRL computes the loss on it alone (completion-only loss).
    """
    head = [{"role": "system", "content": system}] if system else []
    return [
        {"prompt": head + [{"role": "user", "content": r["question"]}],
         "completion": [{"role": "assistant", "content": r["answer"]}]}
        for r in records
    ]


def to_dataset(records: list[dict]):
    """A ``datasets.Dataset`` from a list of records."""
    from datasets import Dataset

    return Dataset.from_list(records)


def with_system(messages: list[dict], system: str | None) -> list[dict]:
    """The conversation with ``system`` as its first message, unless it has a system message already."""
    if system is None or (messages and messages[0]["role"] == "system"):
        return list(messages)
    return [{"role": "system", "content": system}, *messages]


def conversation_prompt(tokenizer, messages: list[dict], system: str | None = None) -> str:
    """The chat-template text of a conversation so far, with the assistant's next turn left open."""
    return tokenizer.apply_chat_template(with_system(messages, system), tokenize=False, add_generation_prompt=True)


def chat_prompt(tokenizer, user: str, system: str | None = None) -> str:
    """The chat-template text that asks ``user`` and leaves the assistant turn open."""
    return conversation_prompt(tokenizer, [{"role": "user", "content": user}], system)


def _assistant_spans(tokenizer, messages: list[dict], text: str) -> list[tuple[int, int]]:
    """Character spans of ``text`` (the rendered conversation) that hold each assistant reply and its end token.

    A reply starts where the template's prompt for it (the conversation so far plus the open
    assistant header) ends, and stops after the end-of-turn token (``tokenizer.eos_token``): what
    follows it (SmolLM2's newline) belongs to the markup before the next turn.
    """
    spans = []
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[:k], tokenize=False, add_generation_prompt=True)
        upto = tokenizer.apply_chat_template(messages[: k + 1], tokenize=False)
        if not (text.startswith(upto) and upto.startswith(before)):
            raise ValueError(f"this tokenizer's chat template renders turn {k} differently once later turns follow "
                             "(it is not prefix-preserving), so labkit cannot mark the assistant's tokens in one pass; "
                             "train on prompt/completion pairs instead (data.qa_to_chat)")
        end = upto.find(tokenizer.eos_token, len(before)) if tokenizer.eos_token else -1
        spans.append((len(before), end + len(tokenizer.eos_token) if end >= 0 else len(upto)))
    return spans


def tokenize_chat(tokenizer, messages: list[dict]) -> dict[str, list[int]]:
    """One conversation as ``input_ids`` and ``assistant_masks``: 1 on every assistant reply's tokens
    (and its end-of-turn token), 0 on system and user turns and on the template's role markup.

    Why this way: TRL's own ``assistant_only_loss=True`` needs a template with ``{% generation %}``
    markers, which SmolLM2's lacks (TRL 1.16 then raises: it has no training template for it). Turning
    each assistant turn into its own prompt/completion pair would work too, but re-reads the
    conversation once per turn. Here the template is applied once for the whole conversation and
    once per assistant turn for its start, so one example trains every assistant turn. SFTTrainer
    takes such pre-tokenised rows as they are and builds labels from ``assistant_masks`` (-100 where 0),
    whatever ``completion_only_loss`` says.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = _assistant_spans(tokenizer, messages, text)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(start <= a < end for start, end in spans)) for a, _ in encoded["offset_mapping"]]
    return {"input_ids": list(encoded["input_ids"]), "assistant_masks": mask}


def chat_dataset(tokenizer, records: list[dict], system: str | None = None):
    """Chat records as a pre-tokenised ``datasets.Dataset`` for ``train.train_sft``, loss on assistant turns only.

    ``system`` is added to the conversations that do not start with a system message of their own.
    """
    return to_dataset([tokenize_chat(tokenizer, with_system(r["messages"], system)) for r in records])


def split(records: list[dict], key: str = "split") -> dict[str, list[dict]]:
    """Group records by their ``split`` field (``train``/``test``/...)."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record.get(key, "train"), []).append(record)
    return groups
