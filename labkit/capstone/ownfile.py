"""The learner's own JSONL file: where it comes from, which schema it has, and a leak planted to test the checks.

The capstone runs the pipeline on a file the course has never seen. Three things are needed
before ``labkit.pipeline`` can take it: the file itself (uploaded in JupyterLab, or a path), its
schema (told from the fields of its first record, so the learner does not have to name it), and
a way to see the de-duplication against the test split work on *this* file: copies of some of
its held-out records planted on the training side, whose count the pipeline must find again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from labkit import data
from labkit.errors import DataError

# the fields that tell each pipeline schema apart, in the order they are tried
SCHEMA_FIELDS = {"chat": ("messages",), "qa": ("question", "answer"), "prompt-completion": ("prompt", "completion")}


def _first_record(path: Path) -> tuple[int, Any]:
    """The line number and parsed value of the first non-blank line (the full check comes later)."""
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    return number, json.loads(line)
                except json.JSONDecodeError as error:
                    raise DataError(f"invalid JSON ({error.msg})", f"{path}:{number}",
                                    "each line must hold one JSON object") from None
    raise DataError("holds no records", str(path), "add one JSON object per line")


def detect_schema(path: str | os.PathLike) -> str:
    """``chat``, ``qa`` or ``prompt-completion``, from the fields of the file's first record.

    Only the first record is looked at: the pipeline's check then reads every line against the
    schema found here, and names each line that does not fit.
    """
    path = data.data_path(path) if not Path(path).exists() else Path(path)
    if not path.is_file():
        raise DataError("file not found", str(path), "upload the file again or check the path")
    number, record = _first_record(path)
    if isinstance(record, dict):
        for schema, needed in SCHEMA_FIELDS.items():
            if all(key in record for key in needed):
                return schema
    shown = sorted(record) if isinstance(record, dict) else type(record).__name__
    raise DataError(f"cannot tell the schema from the first record (fields: {shown})", f"{path}:{number}",
                    "give every record " + "; or ".join(" and ".join(f"'{k}'" for k in keys) for keys in SCHEMA_FIELDS.values()))


def uploaded_file(upload, folder: str | os.PathLike) -> Path | None:
    """The file held by an ipywidgets ``FileUpload``, written into ``folder``; None if nothing was uploaded.

    ipywidgets 8 holds a tuple of ``{"name", "content", ...}`` dicts, ipywidgets 7 a dict from name
    to ``{"content"}``; both are read. Headless (CI, nbconvert) nothing is ever uploaded.
    """
    value = getattr(upload, "value", None) or ()
    files = [(name, item["content"]) for name, item in value.items()] if isinstance(value, dict) \
        else [(item["name"], item["content"]) for item in value]
    if not files:
        return None
    name, content = files[0]
    target = Path(folder) / Path(name).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(bytes(content))
    return target


def choose_file(upload=None, path: str | os.PathLike | None = None, default: str = "veloria_chat.jsonl",
                folder: str | os.PathLike = ".") -> tuple[Path, str]:
    """The file to run on and where it came from: an upload first, then ``path``, then the course file."""
    uploaded = uploaded_file(upload, folder) if upload is not None else None
    if uploaded is not None:
        return uploaded, "uploaded"
    if path:
        chosen = Path(path).expanduser()
        if not chosen.is_file():
            raise DataError("file not found", str(chosen), "check the path (relative paths start at the notebook's folder)")
        return chosen, "path"
    return data.data_path(default), "course file"


def _restyled(text: str) -> str:
    """The same question as a careless copy writes it: other case, doubled spaces."""
    return "  ".join(text.upper().split())


def plant_test_copies(records: list[dict], k: int, split_field: str = "split") -> tuple[list[dict], list[dict]]:
    """``records`` with copies of ``k`` held-out records appended on the training side, and the copies.

    Every other copy has its text restyled (case and spacing), as a file assembled from several
    exports ends up: a check that matched exact strings only would miss those. Held-out records are
    the ones whose ``split_field`` is ``"test"``; they are taken evenly spaced, so a file sorted by
    topic is sampled across topics.
    """
    held_out = [r for r in records if r.get(split_field) == "test"]
    if not 0 < k <= len(held_out):
        raise ValueError(f"k must be between 1 and the {len(held_out)} held-out records (split_field {split_field!r}), got {k}")
    chosen = [held_out[round(i * len(held_out) / k)] for i in range(k)]
    copies = []
    for i, record in enumerate(chosen):
        copy = {key: value for key, value in record.items() if key != split_field} | {split_field: "train"}
        if i % 2 == 1:
            if "messages" in copy:
                copy["messages"] = [{**m, "content": _restyled(m["content"])} if m["role"] == "user" else m
                                    for m in copy["messages"]]
            else:
                key = "question" if "question" in copy else "prompt"
                copy[key] = _restyled(copy[key])
        copies.append(copy)
    return records + copies, copies
