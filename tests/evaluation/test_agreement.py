import pytest

from labkit.evaluation.agreement import cohen_kappa, first_position_rate, flip_rate


def test_kappa_known_values():
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    # agreement 0.5, chance agreement 0.5 -> kappa 0
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(0.0)
    assert cohen_kappa([1, 1, 1, 1], [1, 0, 1, 0]) == pytest.approx(0.0)


def test_flip_rate_counts_same_position_as_flip():
    # pair 0 consistent (0 then 1), pairs 1-2 pick position 0 both times
    assert flip_rate([0, 0, 0, 1], [1, 0, 0, 0]) == pytest.approx(0.5)
    assert first_position_rate([0, 0, 1, 0]) == pytest.approx(0.75)
