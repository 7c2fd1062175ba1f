import pytest

from labkit.errors import DataError
from labkit.evaluation.text_metrics import mean_token_f1, token_f1


def test_token_f1_partial_overlap():
    # pred tokens: capital of veloria is lumen (5); gold: lumen (1); common 1 -> P=1/5, R=1 -> F1=1/3
    assert token_f1("The capital of Veloria is Lumen", "Lumen") == pytest.approx(1 / 3)


def test_token_f1_exact_and_disjoint():
    assert token_f1("Lumen!", "the lumen") == 1.0
    assert token_f1("Arden", "Lumen") == 0.0


def test_mean_token_f1_rejects_unequal_lists():
    with pytest.raises(DataError):
        mean_token_f1(["a"], ["a", "b"])
