"""Rates over judged replies, and the safety prompt file's loader and schema check."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from labkit.errors import DataError

FIELDS = {"prompt": str, "label": str, "category": str, "split": str}
LABELS = ("unsafe", "benign")


def load_prompts(path: str | Path) -> list[dict]:
    """Read `safety_prompts.jsonl`, checking each row so a bad edit fails with its line number."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for key, kind in FIELDS.items():
            if not isinstance(row.get(key), kind):
                raise DataError(f"{path}:{n}: field {key!r} missing or not {kind.__name__}",
                                f"give every row {sorted(FIELDS)}")
        if row["label"] not in LABELS:
            raise DataError(f"{path}:{n}: label {row['label']!r} is not one of {LABELS}",
                            "use 'unsafe' or 'benign'")
        rows.append(row)
    return rows


def rate(flags: list[bool]) -> float:
    """Fraction of True flags; an empty list is an error, not 0.0, so a missing set is noticed."""
    if not flags:
        raise DataError("rate() got no flags", "pass at least one judged reply")
    return sum(map(bool, flags)) / len(flags)


def rates_by_category(categories: list[str], flags: list[bool]) -> dict[str, float]:
    """Per-category rate of True flags (for the before/after bar chart)."""
    if len(categories) != len(flags):
        raise DataError(f"{len(categories)} categories but {len(flags)} flags", "pass aligned lists")
    groups: dict[str, list[bool]] = defaultdict(list)
    for c, f in zip(categories, flags):
        groups[c].append(f)
    return {c: rate(fs) for c, fs in sorted(groups.items())}
