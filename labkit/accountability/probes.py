"""Counterfactual bias probes: the same input with one protected attribute swapped, and the gap it causes.

A probe never compares two *groups of people's* texts (those differ in more than the attribute);
it compares each text with its own counterfactual, so every other word stays put and only the
swapped words can move the output. :func:`gap_ci` then puts a bootstrap confidence interval on the
mean paired difference, so "the model treats them differently" is a measured claim, not an
anecdote. :func:`next_word_logprobs` scores a causal LM's next word (the language-model form of the probe).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from labkit import evaluate
from labkit.errors import DataError


def swap_table(pairs: Sequence[tuple[str, str]]) -> dict[str, str]:
    """Both directions of each (a, b) pair, lower-cased; a word in two pairs is an error (the swap would be ambiguous)."""
    table: dict[str, str] = {}
    for a, b in pairs:
        for x, y in ((a.lower(), b.lower()), (b.lower(), a.lower())):
            if x in table and table[x] != y:
                raise DataError(f"{x!r} is swapped with both {table[x]!r} and {y!r}", "swap_table",
                                "give every word one counterpart")
            table[x] = y
    return table


def counterfactual(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``text`` with every whole word of a pair replaced by its counterpart, keeping its capitalisation."""
    table = swap_table(pairs)
    pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, table), key=len, reverse=True)) + r")\b", re.IGNORECASE)

    def swap(match: re.Match) -> str:
        word, other = match.group(0), table[match.group(0).lower()]
        return other.capitalize() if word[0].isupper() else other

    return pattern.sub(swap, text)


@dataclass
class Gap:
    """Mean paired difference with a bootstrap confidence interval (``level``, percentile method)."""

    mean: float
    low: float
    high: float
    n: int
    level: float = 0.95

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] ({self.level:.0%} CI, n={self.n})"


def gap_ci(a: Sequence[float], b: Sequence[float], resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Gap:
    """Mean of ``a[i] - b[i]`` (paired: item i and its counterfactual) with a bootstrap CI over items."""
    if len(a) != len(b) or len(a) < 2:
        raise DataError(f"{len(a)} and {len(b)} scores", "gap_ci", "pass one score per item and per counterfactual, n >= 2")
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(resamples, len(diffs)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Gap(float(diffs.mean()), float(low), float(high), len(diffs), level)


@torch.no_grad()
def next_word_logprobs(model, tokenizer, prompts: Sequence[str], words: Sequence[str]) -> np.ndarray:
    """``[i, j]``: log P(" " + words[j] | prompts[i]) under a causal LM, all prompts in one batched forward.

    Every word must be one token after a space, so one next-token distribution scores them all
    (a word split into pieces would need its own forward, and its pieces' probabilities multiplied).
    """
    ids = [tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in words]
    split = [w for w, i in zip(words, ids) if len(i) != 1]
    if split:
        raise DataError(f"{split} are not single tokens for this tokenizer", "next_word_logprobs",
                        "choose words that the tokenizer keeps whole after a space")
    columns = [i[0] for i in ids]
    logits = evaluate.next_token_logits(model, tokenizer, list(prompts), batch_size=len(prompts))  # one forward
    return torch.log_softmax(logits.float(), dim=-1)[:, columns].cpu().numpy()
