"""Expected calibration error and temperature scaling (Guo et al., 2017)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

from labkit.errors import DataError


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits divided by the temperature."""
    z = np.asarray(logits, dtype=float) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """Bin predictions by confidence; the weighted mean gap between each bin's accuracy and confidence."""
    conf, hit = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    if conf.shape != hit.shape or conf.size == 0:
        raise DataError(f"{conf.size} confidences for {hit.size} outcomes", "ece", "pass equal, non-empty lists")
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(hit[mask].mean() - conf[mask].mean())
    return float(total)


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature minimising negative log-likelihood on a held-out split (accuracy is unchanged)."""
    logits, labels = np.asarray(logits, dtype=float), np.asarray(labels)
    if logits.ndim != 2 or len(labels) != len(logits):
        raise DataError(f"logits {logits.shape} for {len(labels)} labels", "fit_temperature",
                        "pass an (n, options) array and n labels")

    def nll(t: float) -> float:
        p = softmax(logits, t)[np.arange(len(labels)), labels]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded").x)
