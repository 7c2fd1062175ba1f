import math

import pytest

from labkit.history.ngram import NGramLM


def test_probabilities_sum_to_one_for_seen_and_unseen_contexts():
    model = NGramLM(vocab_size=6, weights=(0.2, 0.3, 0.5), k=0.5).fit([[1, 2, 3, 1, 2, 4], [5, 1, 2]])
    for context in ([1, 2], [2, 3], [0, 0], [], [4]):
        assert sum(model.prob(context, t) for t in range(6)) == pytest.approx(1.0)


def test_counts_drive_the_estimate():
    model = NGramLM(vocab_size=10, weights=(0.1, 0.9), k=0.1).fit([[1, 2] * 20])
    assert model.prob([1], 2) > 0.9
    assert model.prob([1], 7) < 0.01


def test_perplexity_is_uniform_for_an_untrained_model_and_lower_after_training():
    untrained = NGramLM(vocab_size=50).fit([])
    assert untrained.perplexity([[1, 2, 3, 4]]) == pytest.approx(50)
    trained = NGramLM(vocab_size=50).fit([[1, 2, 3, 4]] * 5)
    assert trained.perplexity([[1, 2, 3, 4]]) < 2
    total, count = trained.log_likelihood([1, 2, 3, 4])
    assert count == 3 and math.exp(-total / count) == pytest.approx(trained.perplexity([[1, 2, 3, 4]]))


def test_weights_must_sum_to_one():
    with pytest.raises(ValueError):
        NGramLM(vocab_size=5, weights=(0.5, 0.6))
