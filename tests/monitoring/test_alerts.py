import numpy as np
import pytest

from labkit.monitoring import alerts


def test_cusum_fires_after_the_drop_and_not_before():
    rng = np.random.default_rng(0)
    errors = np.concatenate([rng.random(300) < 0.1, rng.random(100) < 0.6]).astype(float)
    path, fired = alerts.cusum(errors, slack=0.3, threshold=5.0)
    assert fired is not None and 300 < fired < 340
    assert path[:300].max() < 5.0


def test_cusum_stays_quiet_on_good_quality():
    errors = (np.random.default_rng(1).random(500) < 0.1).astype(float)
    path, fired = alerts.cusum(errors, slack=0.3, threshold=5.0)
    assert fired is None
    assert path.min() == 0.0  # floored at zero


def test_cusum_counts_exactly():
    path, fired = alerts.cusum([1, 1, 0, 1, 1, 1], slack=0.5, threshold=1.2)
    assert list(path) == [0.5, 1.0, 0.5, 1.0, 1.5, 2.0]
    assert fired == 4
    with pytest.raises(ValueError):
        alerts.cusum([1], slack=0.5, threshold=0)


def test_rolling_mean():
    out = alerts.rolling_mean([1, 0, 1, 1], window=2)
    assert np.isnan(out[0])
    assert list(out[1:]) == [0.5, 0.5, 1.0]
    with pytest.raises(ValueError):
        alerts.rolling_mean([1], window=0)
