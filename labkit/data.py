"""Course data: JSONL files checked line by line, turned into chats and ``datasets.Dataset``.

Every record is checked against a schema (field name -> type). A bad line is reported as
``file:line: what is wrong``; nothing is silently dropped, because a fine-tune on quietly
truncated data teaches the wrong lesson. What editors and spreadsheets commonly write is read as
meant: a UTF-8 byte-order mark, Windows line ends (CRLF), blank lines. What cannot be meant is
named: a byte that is not UTF-8, a whole JSON array where one object per line belongs, a line too
long to be one example.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from labkit import atomic
from labkit.errors import DataError

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


ENCODING_FIX = "open the file in an editor and save it as UTF-8 (Save As, encoding UTF-8)"
MAX_LINE_BYTES = 1_000_000  # one training example; a longer line is a whole file or a missing newline
SHOWN_PROBLEMS = 10  # bad lines listed in one error; the rest are counted
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


def check_record(record: Any, schema: dict[str, type], allowed: dict[str, tuple] | None = None) -> str | None:
    """What is wrong with one record, or None if it fits the schema (and each field named in
    ``allowed`` holds one of its values, e.g. ``{"label": ("unsafe", "benign")}``)."""
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
    for field, values in (allowed or {}).items():
        if record.get(field) not in values:
            return f"field {field!r} is {record.get(field)!r}, not one of {', '.join(map(repr, values))}"
    if "messages" in schema:
        return _check_messages(record["messages"])
    return None


def _lines(handle, limit: int = MAX_LINE_BYTES) -> Iterable[tuple[int, bytes | None]]:
    """``(number, raw line)`` for each line of a binary file; ``None`` for a line over ``limit`` bytes,
    which is skipped without ever holding it whole in memory."""
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = handle.readline(limit + 1)
            yield number, None
        else:
            yield number, raw


def _decode(raw: bytes, first: bool) -> tuple[str | None, str | None]:
    """A line as text, or what is wrong with its bytes; a byte-order mark on line 1 is dropped."""
    try:
        return raw.decode("utf-8-sig" if first else "utf-8"), None
    except UnicodeDecodeError as error:
        return None, (f"byte 0x{raw[error.start]:02x} at column {error.start + 1} is not UTF-8 "
                      "(the file was saved in another encoding, e.g. Latin-1 or Windows-1252)")


def _read_records(path: Path, fields: dict[str, type],
                  allowed: dict[str, tuple] | None = None) -> tuple[list[dict], list[tuple[int, str]], bool]:
    """The good records, ``(line, problem)`` for each bad line, and whether a bad line was not UTF-8."""
    records, problems, not_utf8 = [], [], False
    with open(path, "rb") as handle:
        for number, raw in _lines(handle):
            if raw is None:
                problems.append((number, f"line longer than {MAX_LINE_BYTES:,} bytes: one record per line, "
                                         "and a record is one example"))
                continue
            line, problem = _decode(raw, first=number == 1)
            not_utf8 |= problem is not None
            if problem is None and not line.strip():
                continue
            if problem is None and not records and not problems and line.lstrip().startswith("["):
                raise DataError("this is one JSON array; JSONL holds one JSON object per line", f"{path}:{number}",
                                "write each record on its own line, e.g. with labkit.data.save_jsonl("
                                f"json.load(open({str(path)!r})), 'records.jsonl')")
            if problem is None:
                try:
                    record = json.loads(line)
                    problem = check_record(record, fields, allowed)
                except json.JSONDecodeError as error:
                    problem = f"invalid JSON ({error.msg} at column {error.colno})"
            if problem:
                problems.append((number, problem))
            else:
                records.append(record)
    return records, problems, not_utf8


def load_jsonl(name: str | os.PathLike, schema: str | dict[str, type] | None = None,
               allowed: dict[str, tuple] | None = None) -> list[dict]:
    """Read a JSONL file, checking every line; raise :class:`DataError` listing each bad line.

    Blank lines are allowed (they hold no record). ``schema`` is a name from :data:`SCHEMAS` or a
    ``{field: type}`` dict; ``allowed`` names the values a field may take (``{"label": ("a", "b")}``).
    """
    path = data_path(name)
    if not path.exists():
        raise DataError("no such file", str(path), f"check the name; course files live in {data_dir()}")
    if path.is_dir():
        raise DataError("this is a folder, not a JSONL file", str(path), "name a .jsonl file inside it")
    if isinstance(schema, str) and schema not in SCHEMAS:
        raise DataError(f"{schema!r} is not a schema", str(path), f"choose one of {', '.join(SCHEMAS)}")
    fields = SCHEMAS[schema] if isinstance(schema, str) else (schema or {})
    records, problems, not_utf8 = _read_records(path, fields, allowed)
    expected = f" with the fields {', '.join(fields)}" if fields else ""
    if len(problems) == 1:
        number, problem = problems[0]
        raise DataError(problem, f"{path}:{number}", ENCODING_FIX if not_utf8 else f"correct that line: one JSON object{expected}")
    if problems:
        shown = "\n".join(f"  {path}:{n}: {p}" for n, p in problems[:SHOWN_PROBLEMS])
        more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        raise DataError(f"{len(problems)} bad lines:\n{shown}{more}", str(path),
                        f"correct these lines: one JSON object per line{expected}" + ("; " + ENCODING_FIX if not_utf8 else ""))
    if not records:
        raise DataError("the file holds no records (it is empty or only blank lines)", str(path),
                        f"add one JSON object per line{expected}")
    return records


def save_jsonl(records: Iterable[dict], path: str | os.PathLike) -> Path:
    """Write records as JSONL (UTF-8, one object per line), atomically: all of them or none."""
    return atomic.write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


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


def interleave(groups: list[list], seed: int = 0) -> list:
    """One list in which every group is spread evenly (each shuffled by ``seed`` first).

    Read in order in batches (``train_sampling_strategy="sequential"``), every batch then holds the
    groups in about the same proportions. In a short run that matters: drawn at random, one batch
    may hold mostly one kind of example and the other none, and where the run ends up varies with
    the seed (notebook 21 interleaves refusals with helpful answers this way).
    """
    import random

    rng = random.Random(seed)
    keyed = []
    for g, group in enumerate(groups):
        items = list(group)
        rng.shuffle(items)
        keyed += [((i + 0.5) / len(items), g, item) for i, item in enumerate(items)]
    return [item for _, _, item in sorted(keyed, key=lambda t: (t[0], t[1]))]


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
