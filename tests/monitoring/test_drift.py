import numpy as np
import pytest

from labkit.monitoring import drift


def gaussians(shift: float, n: int = 80, dim: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)), rng.normal(size=(n, dim)) + shift


def test_same_distribution_gives_a_large_p_value():
    x, y = gaussians(0.0)
    result = drift.mmd_test(x, y, permutations=200, seed=0)
    assert result.p_value > 0.1
    assert not result.alarm(0.05)


def test_shifted_distribution_gives_the_smallest_p_value():
    x, y = gaussians(1.0)
    result = drift.mmd_test(x, y, permutations=200, seed=0)
    assert result.p_value == pytest.approx(1 / 201)
    assert result.alarm(0.05)
    assert result.statistic > 10 * abs(drift.mmd_test(*gaussians(0.0), permutations=10).statistic)


def test_permutation_p_value_counts_the_real_split_and_ties():
    null = np.array([0.1, 0.2, 0.3, 0.4])
    assert drift.permutation_p_value(1.0, null) == pytest.approx(1 / 5)  # never zero
    assert drift.permutation_p_value(0.3, null) == pytest.approx(3 / 5)  # a tie counts as extreme
    assert drift.permutation_p_value(0.0, null) == pytest.approx(1.0)


def test_p_values_are_roughly_uniform_without_drift():
    p = [drift.mmd_test(*gaussians(0.0, n=20, seed=s), permutations=50, seed=s).p_value for s in range(40)]
    assert 0.3 < np.mean(p) < 0.7
    assert np.mean(np.array(p) < 0.1) < 0.3


def test_unbiased_mmd_is_near_zero_and_matches_a_direct_sum():
    x, y = gaussians(0.5, n=6, dim=2)
    pooled = np.concatenate([x, y])
    width = drift.median_bandwidth(pooled)
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * width ** 2))  # noqa: E731
    direct = (sum(k(a, b) for i, a in enumerate(x) for j, b in enumerate(x) if i != j) / 30
              + sum(k(a, b) for i, a in enumerate(y) for j, b in enumerate(y) if i != j) / 30
              - 2 * sum(k(a, b) for a in x for b in y) / 36)
    assert drift.mmd2_from_kernel(drift.rbf_kernel(pooled, width), 6) == pytest.approx(direct)


def test_sliding_tests_cover_the_stream_and_bad_shapes_raise():
    x, y = gaussians(0.0, n=40)
    windows = drift.sliding_tests(x, y, window=20, step=10, permutations=5)
    assert [start for start, _ in windows] == [0, 10, 20]
    with pytest.raises(ValueError):
        drift.mmd_test(x, y[:, :3])
    with pytest.raises(ValueError):
        drift.mmd_test(x[:1], y)
