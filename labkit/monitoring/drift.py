"""Drift on embeddings: is a window of requests drawn from the same distribution as a reference window?

The two-sample statistic is the maximum mean discrepancy (MMD, Gretton et al. 2012) with an RBF
kernel: zero in expectation when both samples come from one distribution, larger the more they
differ. Its bandwidth is the median pairwise distance of the pooled sample (the median heuristic),
so no tuning is needed. The p-value comes from a permutation test: shuffle the pooled sample, split
it again, and count how often a random split looks as different as the real one. Under no drift
that count is uniform, so ``p < alpha`` raises a false alarm with probability ``alpha``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class DriftResult:
    """One two-sample test: the MMD² estimate, its permutation p-value and the kernel bandwidth."""

    statistic: float
    p_value: float
    bandwidth: float
    permutations: int

    def alarm(self, alpha: float) -> bool:
        """Drift is declared when the p-value falls below ``alpha`` (the accepted false-alarm rate)."""
        return self.p_value < alpha


def _squared_distances(z: np.ndarray) -> np.ndarray:
    norms = (z * z).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2 * z @ z.T, 0.0)


def median_bandwidth(z: np.ndarray) -> float:
    """The median heuristic: the median distance between distinct points of ``z``."""
    d2 = _squared_distances(np.asarray(z, dtype=np.float64))
    off_diagonal = d2[~np.eye(len(d2), dtype=bool)]
    return float(np.sqrt(np.median(off_diagonal))) or 1.0


def rbf_kernel(z: np.ndarray, bandwidth: float) -> np.ndarray:
    """``exp(-|a - b|² / (2 bandwidth²))`` for every pair of rows of ``z``."""
    return np.exp(-_squared_distances(np.asarray(z, dtype=np.float64)) / (2 * bandwidth ** 2))


def mmd2_from_kernel(kernel: np.ndarray, n_x: int) -> float:
    """Unbiased MMD² of the first ``n_x`` points against the rest, from the pooled kernel matrix.

    Diagonal terms (a point with itself) are left out of the within-sample means, which removes
    the estimator's bias: it can then be slightly negative when there is no drift.
    """
    kxx, kyy, kxy = kernel[:n_x, :n_x], kernel[n_x:, n_x:], kernel[:n_x, n_x:]
    n_y = len(kernel) - n_x
    within_x = (kxx.sum() - np.trace(kxx)) / (n_x * (n_x - 1))
    within_y = (kyy.sum() - np.trace(kyy)) / (n_y * (n_y - 1))
    return float(within_x + within_y - 2 * kxy.mean())


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """``(1 + #{null >= observed}) / (1 + len(null))``: never 0, since the real split is one of the splits."""
    null = np.asarray(null)
    return float((1 + np.sum(null >= observed)) / (1 + len(null)))


def mmd_test(x: np.ndarray, y: np.ndarray, permutations: int = 500, seed: int = 0,
             bandwidth: float | None = None) -> DriftResult:
    """Two-sample MMD test of ``x`` (reference rows) against ``y`` (the window to check)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be matrices with the same number of columns, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"each sample needs at least 2 rows, got {len(x)} and {len(y)}")
    pooled = np.concatenate([x, y])
    width = bandwidth or median_bandwidth(pooled)
    kernel = rbf_kernel(pooled, width)
    observed = mmd2_from_kernel(kernel, len(x))
    rng = np.random.default_rng(seed)
    null = np.empty(permutations)
    for b in range(permutations):
        order = rng.permutation(len(pooled))
        null[b] = mmd2_from_kernel(kernel[np.ix_(order, order)], len(x))
    return DriftResult(observed, permutation_p_value(observed, null), width, permutations)


def sliding_tests(reference: np.ndarray, stream: np.ndarray, window: int, step: int,
                  permutations: int = 500, seed: int = 0) -> list[tuple[int, DriftResult]]:
    """``(start, result)`` for each window ``stream[start:start + window]`` tested against ``reference``."""
    if window < 2 or step < 1:
        raise ValueError(f"window must be at least 2 and step at least 1, got {window} and {step}")
    return [(start, mmd_test(reference, stream[start:start + window], permutations, seed + start))
            for start in range(0, len(stream) - window + 1, step)]
