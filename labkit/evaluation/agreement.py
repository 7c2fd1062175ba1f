"""How far a judge agrees with gold labels, and how much the order of answers sways it."""
from __future__ import annotations

from typing import Sequence

from sklearn.metrics import cohen_kappa_score

from labkit.errors import DataError


def _same_length(a: Sequence, b: Sequence, where: str) -> None:
    if len(a) != len(b) or not a:
        raise DataError(f"{len(a)} and {len(b)} items", where, "pass two equal, non-empty lists")


def cohen_kappa(verdicts: Sequence, labels: Sequence) -> float:
    """Agreement corrected for chance (sklearn): 0 for a judge that always says the same thing."""
    _same_length(verdicts, labels, "cohen_kappa")
    return float(cohen_kappa_score(list(labels), list(verdicts)))


def flip_rate(first_order: Sequence[int], swapped_order: Sequence[int]) -> float:
    """Fraction of pairs whose preferred *answer* changes when the two answers swap places.
    Verdicts are the position picked (0 or 1), so a consistent judge picks 1 after the swap where it
    picked 0; picking the same position both times is a flip caused by position alone."""
    _same_length(first_order, swapped_order, "flip_rate")
    return sum(a == b for a, b in zip(first_order, swapped_order)) / len(first_order)


def first_position_rate(verdicts: Sequence[int]) -> float:
    """Fraction of verdicts choosing the first position (0.5 for an unbiased judge on shuffled pairs)."""
    if not verdicts:
        raise DataError("no verdicts", "first_position_rate", "pass at least one verdict")
    return sum(v == 0 for v in verdicts) / len(verdicts)
