"""Quality alerts: notice when a metric that used to be good falls, without crying wolf.

A rolling mean is easy to read but noisy; CUSUM (Page 1954) accumulates evidence instead: each
error adds ``1 - slack`` and each success subtracts ``slack``, the sum is floored at zero, and the
alarm fires when it passes ``threshold``. With ``slack`` between the normal and the bad error rate,
the sum drifts down while quality is normal and climbs steadily once it drops.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each position (NaN until ``window`` values are in)."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    out = np.full(len(values), np.nan)
    out[window - 1:] = (sums[window:] - sums[:-window]) / window
    return out


def cusum(errors: Sequence[float], slack: float, threshold: float) -> tuple[np.ndarray, int | None]:
    """The upper CUSUM path over ``errors`` (1 for a wrong answer, 0 for a right one) and the index of
    the first value above ``threshold`` (None when it never fires)."""
    if threshold <= 0:
        raise ValueError(f"threshold must be positive, got {threshold}")
    path, total, fired = np.empty(len(errors)), 0.0, None
    for i, error in enumerate(errors):
        total = max(0.0, total + float(error) - slack)
        path[i] = total
        if fired is None and total > threshold:
            fired = i
    return path, fired
