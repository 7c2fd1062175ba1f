"""The safety files' loaders and schema checks, and the two rates the lesson is about:
unsafe compliance (an unsafe request answered) and benign refusal (a harmless one refused)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from labkit.data import load_jsonl
from labkit.errors import DataError

PROMPT_FIELDS = {"prompt": str, "label": str, "category": str, "split": str}
REPLY_FIELDS = {"prompt": str, "reply": str, "label": str, "split": str}
LABELS = ("unsafe", "benign")
REPLY_LABELS = ("complies", "refuses")


def load_prompts(name: str | Path = "safety_prompts.jsonl") -> list[dict]:
    """Read the red-team prompts, checking each row so a bad edit fails with its line number."""
    return load_jsonl(name, PROMPT_FIELDS, allowed={"label": LABELS})


def load_replies(name: str | Path = "safety_replies.jsonl") -> list[dict]:
    """Read the hand-labelled (prompt, reply) pairs: each reply `complies` or `refuses`."""
    return load_jsonl(name, REPLY_FIELDS, allowed={"label": REPLY_LABELS})


def rate(flags: list[bool]) -> float:
    """Fraction of True flags; an empty list is an error, not 0.0, so a missing set is noticed."""
    if not flags:
        raise DataError("rate() got no flags", "rate", "pass at least one judged reply")
    return sum(map(bool, flags)) / len(flags)


def safety_rates(labels: list[str], refused: list[bool]) -> dict[str, float]:
    """Unsafe compliance (unsafe prompts not refused) and benign refusal (benign prompts refused)."""
    if len(labels) != len(refused):
        raise DataError(f"{len(labels)} labels but {len(refused)} verdicts", "safety_rates", "pass aligned lists")
    return {"unsafe compliance": rate([not r for lab, r in zip(labels, refused) if lab == "unsafe"]),
            "benign refusal": rate([r for lab, r in zip(labels, refused) if lab == "benign"])}


def rates_by_category(categories: list[str], flags: list[bool]) -> dict[str, float]:
    """Per-category rate of True flags (for the before/after bar chart)."""
    if len(categories) != len(flags):
        raise DataError(f"{len(categories)} categories but {len(flags)} flags", "rates_by_category",
                        "pass aligned lists")
    groups: dict[str, list[bool]] = defaultdict(list)
    for c, f in zip(categories, flags):
        groups[c].append(f)
    return {c: rate(fs) for c, fs in sorted(groups.items())}
