import numpy as np
import pytest

from labkit import models
from labkit.accountability.probes import counterfactual, gap_ci, next_word_logprobs, swap_table
from labkit.accountability.reviews import NAME_PAIRS, OFFICE_PAIRS, PRONOUN_PAIRS, make_reviews
from labkit.errors import DataError

GENDER = NAME_PAIRS + PRONOUN_PAIRS


def test_counterfactual_swaps_whole_words_and_keeps_case():
    text = "He said Mary gave his report to her manager; Hermann stayed."
    assert counterfactual(text, [("he", "she"), ("his", "her"), ("Mary", "James")]) == \
        "She said James gave her report to his manager; Hermann stayed."


def test_counterfactual_is_its_own_inverse_on_every_review():
    for row in make_reviews(n_train=64, n_test=32):
        swapped = counterfactual(row["text"], GENDER)
        assert swapped != row["text"]
        assert counterfactual(swapped, GENDER) == row["text"]
        assert counterfactual(counterfactual(row["text"], OFFICE_PAIRS), OFFICE_PAIRS) == row["text"]


def test_a_word_with_two_counterparts_is_refused():
    with pytest.raises(DataError, match="'her'"):
        swap_table([("his", "her"), ("him", "her")])


def test_gap_ci_is_paired_and_covers_the_mean():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 400)
    gap = gap_ci(a + 0.3, a)  # the shared item effect cancels: a paired gap of exactly 0.3
    assert gap.mean == pytest.approx(0.3) and gap.high - gap.low < 1e-9
    noisy = gap_ci(a, rng.normal(1.0, 1.0, 400))
    assert noisy.low < noisy.mean < noisy.high and not noisy.excludes_zero()
    with pytest.raises(DataError):
        gap_ci([1.0], [0.5])


def test_next_word_logprobs_batched_matches_one_by_one():
    tokenizer = models.load_tokenizer(models.TINY_LLAMA)
    model = models.load_model(models.TINY_LLAMA)
    prompts, words = ["Mary works as a", "The tall man over there is a"], ["nurse", "doctor"]
    together = next_word_logprobs(model, tokenizer, prompts, words)
    alone = np.vstack([next_word_logprobs(model, tokenizer, [p], words) for p in prompts])
    assert together.shape == (2, 2) and np.allclose(together, alone, atol=1e-5)
    assert (together < 0).all()
    with pytest.raises(DataError, match="single tokens"):
        next_word_logprobs(model, tokenizer, prompts, ["antidisestablishmentarianism"])
