"""Hub datasets by name for the ``gpu`` profile, with the course file as the fallback.

The syllabus's ``gpu`` row trains on real Hub data (smoltalk, ultrafeedback_binarized, imdb) where
the ``ci`` and ``cpu`` profiles use the small files in ``data/``. :func:`load` returns records in
the course's own schemas either way, so the cells that follow do not change: only the name and the
size do. When the Hub cannot be reached (no network, ``HF_HUB_OFFLINE=1``, a dataset that fails to
load) it says so in one line and returns the course file: a classroom without internet still runs.

``LABKIT_HUB_DATA=0`` keeps the course files on a GPU too (e.g. to compare with a CPU run), and
``LABKIT_HUB_DATA=1`` asks for the Hub data in any profile.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable

from labkit import data
from labkit.errors import DataError
from labkit.models import hub_reachable
from labkit.profiles import Profile


def _smoltalk(row: dict) -> dict | None:
    messages = [{"role": m["role"], "content": m["content"]} for m in row.get("messages") or []]
    return {"messages": messages} if data.check_record({"messages": messages}, data.SCHEMAS["chat"]) is None else None


def _last_reply(messages: list[dict]) -> str | None:
    replies = [m["content"] for m in messages or [] if m.get("role") == "assistant"]
    return replies[-1] if replies else None


def _ultrafeedback(row: dict) -> dict | None:
    chosen, rejected = _last_reply(row.get("chosen")), _last_reply(row.get("rejected"))
    if not row.get("prompt") or not chosen or not rejected or chosen == rejected:
        return None
    return {"prompt": row["prompt"], "chosen": chosen, "rejected": rejected}


def _imdb(row: dict) -> dict | None:
    if row.get("label") not in (0, 1) or not row.get("text"):
        return None
    return {"text": row["text"], "label": ("negative", "positive")[row["label"]]}


@dataclass(frozen=True)
class HubDataset:
    """A Hub dataset and how one of its rows becomes a course record (``None``: skip the row)."""

    name: str
    config: str | None
    split: str
    schema: str  # the course schema its records follow (labkit.data.SCHEMAS)
    to_record: Callable[[dict], dict | None]


HUB_DATASETS = {
    "chat": HubDataset("HuggingFaceTB/smoltalk", "everyday-conversations", "train", "chat", _smoltalk),
    "preference": HubDataset("HuggingFaceH4/ultrafeedback_binarized", None, "train_prefs", "preference", _ultrafeedback),
    "sentiment": HubDataset("stanfordnlp/imdb", None, "train", "classification", _imdb),
}


def wants_hub(profile: Profile) -> bool:
    """Hub data in the ``gpu`` profile, unless ``LABKIT_HUB_DATA`` says otherwise."""
    setting = os.environ.get("LABKIT_HUB_DATA", "")
    return setting == "1" or (setting != "0" and profile.name == "gpu")


def _from_hub(source: HubDataset, limit: int | None) -> list[dict]:
    import datasets

    split = source.split if limit is None else f"{source.split}[:{limit * 2}]"  # some rows are skipped
    rows = datasets.load_dataset(source.name, source.config, split=split)
    records = [r for r in map(source.to_record, rows) if r is not None]
    return records[:limit] if limit is not None else records


def load(kind: str, fallback: str, profile: Profile, limit: int | None = None) -> tuple[list[dict], str]:
    """Records of ``kind`` (a key of :data:`HUB_DATASETS`) and where they came from.

    From the Hub where :func:`wants_hub` (at most ``limit`` records), else, or when the Hub cannot
    be had, from the course file ``fallback`` (all of it, checked line by line).
    """
    if kind not in HUB_DATASETS:
        raise DataError(f"{kind!r} is not a Hub dataset kind", "labkit.hubdata.load", f"choose one of {', '.join(HUB_DATASETS)}")
    source = HUB_DATASETS[kind]
    if wants_hub(profile):
        why = "the Hub cannot be reached"
        if hub_reachable():
            try:
                records = _from_hub(source, limit)
                if records:
                    return records, f"{source.name} ({len(records)} records)"
                why = "it held no usable records"
            except Exception as error:  # any failure to fetch means: use the course file, and say why
                why = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        print(f"labkit: {source.name} not used ({why}); using the course file {fallback}", file=sys.stderr)
    return data.load_jsonl(fallback, schema=source.schema), fallback
