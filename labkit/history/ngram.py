"""A count-based n-gram language model: the model language modelling started from.

Notebook 01 writes this model inline first; this is the tested copy it is checked against.

The model predicts token ids (any tokenizer's), so its perplexity is comparable with a neural
model's on the same tokens. Smoothing is *interpolation*: the trigram, bigram and unigram
estimates are mixed with fixed weights, and the unigram is add-k smoothed over the whole
vocabulary, so every token, even one never seen in training, gets some probability. A context
never seen in training passes its weight down to the shorter contexts, so the mixture always
sums to one.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Sequence


class NGramLM:
    """An interpolated n-gram model over token ids ``0 .. vocab_size - 1``.

    ``weights[i]`` is the weight of the estimate that looks back ``i`` tokens (``weights[0]``:
    the unigram). ``k`` is the add-k pseudo-count of the unigram.
    """

    def __init__(self, vocab_size: int, weights: Sequence[float] = (0.1, 0.3, 0.6), k: float = 0.1):
        if abs(sum(weights) - 1) > 1e-9:
            raise ValueError(f"interpolation weights must sum to 1, got {list(weights)}")
        self.vocab_size, self.weights, self.k = vocab_size, tuple(weights), k
        self.order = len(weights)
        self.counts: list[Counter] = [Counter() for _ in range(self.order)]  # (context..., token) -> n
        self.context_counts: list[Counter] = [Counter() for _ in range(self.order)]  # context -> n
        self.total = 0

    def fit(self, sequences: Sequence[Sequence[int]]) -> "NGramLM":
        """Count every n-gram of every sequence (token ids); returns self."""
        for ids in sequences:
            for position, token in enumerate(ids):
                self.total += 1
                for n in range(self.order):
                    if position - n < 0:
                        break
                    context = tuple(ids[position - n:position])
                    self.counts[n][context + (token,)] += 1
                    self.context_counts[n][context] += 1
        return self

    def prob(self, context: Sequence[int], token: int) -> float:
        """P(token | the last ``order - 1`` tokens of context), interpolated and smoothed."""
        unigram = (self.counts[0][(token,)] + self.k) / (self.total + self.k * self.vocab_size)
        estimate, spare = self.weights[0] * unigram, 0.0
        for n in range(self.order - 1, 0, -1):  # longest context first; unseen ones pass weight down
            seen = self.context_counts[n][tuple(context[-n:])] if len(context) >= n else 0
            if seen:
                share = self.weights[n] + spare
                estimate += share * self.counts[n][tuple(context[-n:]) + (token,)] / seen
                spare = 0.0
            else:
                spare += self.weights[n]
        return estimate + spare * unigram

    def log_likelihood(self, ids: Sequence[int]) -> tuple[float, int]:
        """Summed natural-log probability of ``ids[1:]`` (each given what precedes it), and its count."""
        total = sum(math.log(self.prob(ids[:position], ids[position])) for position in range(1, len(ids)))
        return total, max(len(ids) - 1, 0)

    def perplexity(self, sequences: Sequence[Sequence[int]]) -> float:
        """Token-weighted perplexity over the sequences; the first token of each is not predicted."""
        scores = [self.log_likelihood(ids) for ids in sequences]
        return math.exp(-sum(s for s, _ in scores) / max(sum(n for _, n in scores), 1))
