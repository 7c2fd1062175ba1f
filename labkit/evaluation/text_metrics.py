"""Token-overlap F1, the SQuAD metric that gives partial credit where exact match gives none."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from labkit.errors import DataError
from labkit.evaluate import normalize_answer


def token_f1(prediction: str, gold: str) -> float:
    """Harmonic mean of token precision and recall after SQuAD normalisation (1.0 when both are empty)."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def mean_token_f1(predictions: Sequence[str], golds: Sequence[str]) -> float:
    """Mean token F1 over paired lists; unequal lengths usually mean a dropped example."""
    if len(predictions) != len(golds) or not golds:
        raise DataError(f"{len(predictions)} predictions for {len(golds)} gold answers",
                        "mean_token_f1", "pass one prediction per gold answer (and at least one)")
    return sum(token_f1(p, g) for p, g in zip(predictions, golds)) / len(golds)
