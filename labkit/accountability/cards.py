"""Model cards and data cards built from a run's own artefacts, and checked before they are written.

A card written by hand drifts from the run it describes; one assembled from the metrics dict, the
data counts and the licence strings the packages and data cards declare says what was measured.
The required fields follow Mitchell et al., *Model Cards for Model Reporting* (2019) and Gebru et
al., *Datasheets for Datasets* (2021), cut to what a course run can fill in honestly.
:func:`check_card` refuses a card with a required field missing or empty, naming the field.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

from labkit import atomic
from labkit.data import data_path
from labkit.errors import DataError

MODEL_CARD_FIELDS = ("model", "base_model", "licence", "intended_use", "out_of_scope_use", "training_data",
                     "evaluation_data", "metrics", "limitations", "ethical_considerations")
DATA_CARD_FIELDS = ("dataset", "description", "counts", "licence", "collection", "intended_use", "limitations")


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, dict, tuple)) and not (value.strip() if isinstance(value, str) else value))


def check_card(card: dict, required: Sequence[str], kind: str = "card") -> dict:
    """Return ``card`` unchanged if every required field is present and non-empty, else raise naming the first missing."""
    missing = [name for name in required if _empty(card.get(name))]
    if missing:
        raise DataError(f"required field {missing[0]!r} is missing or empty"
                        + (f" (also: {', '.join(map(repr, missing[1:]))})" if missing[1:] else ""),
                        kind, f"fill in {', '.join(missing)} from the run's artefacts before writing the card")
    return card


def package_licence(distribution: str) -> str:
    """The licence string an installed package declares (its ``License`` metadata, else a classifier)."""
    try:
        meta = metadata.metadata(distribution)
    except metadata.PackageNotFoundError:
        raise DataError("package not installed", distribution, "install it, or name the licence yourself") from None
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    found = meta.get("License-Expression") or meta.get("License") or (classifiers[0] if classifiers else "")
    if _empty(found) or found == "UNKNOWN":
        raise DataError("declares no licence", distribution, "look the licence up and name it yourself")
    return found.strip()


def data_card_section(name: str | Path, section: str) -> str:
    """The text of a ``**Section.**`` paragraph of a course data card (``data/NAME.md``)."""
    path = data_path(name)
    if not path.exists():
        raise DataError("no such data card", str(path), "every course data file has a card beside it")
    found = re.search(rf"\*\*{re.escape(section)}\.\*\*\s*(.+?)(?:\n\s*\n|\Z)", path.read_text(encoding="utf-8"), re.S)
    if not found:
        raise DataError(f"no '**{section}.**' paragraph", str(path), f"add a paragraph starting **{section}.**")
    return " ".join(found.group(1).split())


def counts(rows: Sequence[dict], *keys: str) -> dict[str, int]:
    """How many rows share each combination of ``keys`` (e.g. split, label, gender), as ``"a/b/c": n``."""
    return dict(sorted(Counter("/".join(str(r[k]) for k in keys) for r in rows).items()))


def to_markdown(card: dict, title: str) -> str:
    """A card as Markdown: one section per field; dicts become bullet lists, numbers keep 3 decimals."""
    def show(value: Any) -> str:
        if isinstance(value, dict):
            return "\n".join(f"- **{k}**: {show(v)}" for k, v in value.items())
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value)

    parts = [f"# {title}"] + [f"## {key.replace('_', ' ').capitalize()}\n{show(value)}" for key, value in card.items()]
    return "\n\n".join(parts) + "\n"


def write_card(card: dict, folder: str | Path, stem: str, required: Sequence[str], title: str) -> list[Path]:
    """Check ``card``, then write ``stem.json`` and ``stem.md`` into ``folder``; returns both paths."""
    check_card(card, required, stem)
    folder = Path(folder)
    return [atomic.write_json(folder / f"{stem}.json", card, indent=1, sort_keys=False),
            atomic.write_text(folder / f"{stem}.md", to_markdown(card, title))]


def read_card(path: str | Path, required: Sequence[str]) -> dict:
    """Load a card written by :func:`write_card` and check it again (a card edited by hand may have lost a field)."""
    return check_card(json.loads(Path(path).read_text(encoding="utf-8")), required, str(path))
