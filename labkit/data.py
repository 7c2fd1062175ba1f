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
    if not messages:
        return "field 'messages' is empty"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) < {"role", "content"}:
            return f"messages[{i}] must be an object with 'role' and 'content'"
        if message["role"] not in ROLES:
            return f"messages[{i}].role is {message['role']!r}; expected one of {', '.join(ROLES)}"
        if not isinstance(message["content"], str):
            return f"messages[{i}].content must be a string"
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


def chat_prompt(tokenizer, user: str, system: str | None = None) -> str:
    """The chat-template text that asks ``user`` and leaves the assistant turn open."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def split(records: list[dict], key: str = "split") -> dict[str, list[dict]]:
    """Group records by their ``split`` field (``train``/``test``/...)."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record.get(key, "train"), []).append(record)
    return groups
