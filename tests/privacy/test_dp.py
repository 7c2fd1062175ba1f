import numpy as np
import pytest

pytest.importorskip("opacus")

from labkit.privacy.dp import train_head  # noqa: E402


def _blobs(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = np.eye(3)[y] * 2 + rng.normal(size=(n, 3)) * 0.5
    return X.astype(np.float32), y


def test_without_dp_there_is_no_epsilon():
    X, y = _blobs()
    run = train_head(X, y, 3, epochs=5)
    assert run.epsilon is None and run.accuracy(X, y) > 0.9


def test_opacus_accountant_reports_the_target_epsilon():
    X, y = _blobs()
    run = train_head(X, y, 3, epochs=5, target_epsilon=2.0, delta=1e-3)
    assert abs(run.epsilon - 2.0) < 0.2 and run.delta == 1e-3
    assert run.noise_multiplier > 0.5


def test_smaller_epsilon_needs_more_noise():
    X, y = _blobs()
    runs = [train_head(X, y, 3, epochs=5, target_epsilon=e) for e in (1.0, 8.0)]
    assert runs[0].noise_multiplier > 2 * runs[1].noise_multiplier


def test_dp_head_is_a_plain_linear_layer_afterwards():
    X, y = _blobs()
    run = train_head(X, y, 3, epochs=2, target_epsilon=8.0)
    assert type(run.head).__name__ == "Linear"
