import numpy as np
import pytest

from labkit.evaluation.calibration import ece, fit_temperature, softmax


def test_ece_known_value():
    # all in one bin at 0.95 confidence, half correct -> gap 0.45
    assert ece([0.95, 0.95, 0.95, 0.95], [1, 0, 1, 0]) == pytest.approx(0.45)
    assert ece([0.75, 0.75, 0.75, 0.75], [1, 1, 1, 0]) == pytest.approx(0.0)


def test_temperature_scaling_cools_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=400)
    logits = rng.normal(size=(400, 4))
    logits[np.arange(400), labels] += 1.0
    logits *= 5.0                                  # overconfident by a factor of ~5
    t = fit_temperature(logits, labels)
    assert 3.0 < t < 8.0
    hit = softmax(logits).argmax(1) == labels
    before = ece(softmax(logits).max(1), hit)
    after = ece(softmax(logits, t).max(1), hit)
    assert after < before / 2
