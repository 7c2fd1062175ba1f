"""A guard classifier: sentence-encoder embeddings of a prompt and its reply plus a logistic-regression head.

Label 1 means "this reply complies with the request", 0 "it refuses". On an unsafe request a
compliance is an unsafe completion; on a benign one a refusal is an over-refusal, so one guard
gives both rates. Small, fast and inspectable, it stands in for Llama Guard / ShieldGemma, which
the gpu profile names but the course does not download.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from labkit.errors import DataError


@dataclass
class Guard:
    encoder: object  # a sentence-transformers model (anything with .encode)
    head: LogisticRegression

    def embed(self, prompts: list[str], replies: list[str]) -> np.ndarray:
        """The request's and the reply's embeddings side by side. Encoded as one text, the request's
        words dominate the mean-pooled vector and hide the reply's stance (a held-out accuracy
        near the rule judge's instead of near 1 on the course pairs); apart, the head sees both."""
        if len(prompts) != len(replies):
            raise DataError(f"{len(prompts)} prompts but {len(replies)} replies", "Guard.embed",
                            "pass one reply per prompt")
        encode = lambda texts: np.asarray(self.encoder.encode(list(texts), normalize_embeddings=True))
        return np.hstack([encode(prompts), encode(replies)])

    def proba(self, prompts: list[str], replies: list[str]) -> np.ndarray:
        """The head's probability that each reply complies."""
        return self.head.predict_proba(self.embed(prompts, replies))[:, 1]

    def predict(self, prompts: list[str], replies: list[str], threshold: float = 0.5) -> list[bool]:
        """True where the reply is judged to comply (False: a refusal)."""
        return [bool(p >= threshold) for p in self.proba(prompts, replies)]


def train_guard(encoder, prompts: list[str], replies: list[str], labels: list[int],
                C: float = 4.0, seed: int = 0) -> Guard:
    """Fit the head on labelled pairs (1: complies, 0: refuses); both classes are required or the
    head learns nothing."""
    if not (len(prompts) == len(replies) == len(labels)):
        raise DataError(f"{len(prompts)} prompts, {len(replies)} replies, {len(labels)} labels",
                        "train_guard", "pass aligned lists, one label per (prompt, reply) pair")
    if len(set(labels)) < 2:
        raise DataError(f"labels hold one class only ({set(labels)})", "train_guard",
                        "include both complying (1) and refusing (0) replies")
    guard = Guard(encoder, LogisticRegression(C=C, max_iter=2000, random_state=seed))
    guard.head.fit(guard.embed(prompts, replies), np.asarray(labels))
    return guard


def precision_recall(predicted: list[bool], actual: list[int]) -> tuple[float, float]:
    """Precision and recall of the positive class (the reply complies)."""
    if len(predicted) != len(actual):
        raise DataError(f"{len(predicted)} predictions but {len(actual)} labels", "precision_recall",
                        "judge the same pairs the labels describe")
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum((not p) and a for p, a in zip(predicted, actual))
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def agreement(a: list[bool], b: list[bool]) -> float:
    """Fraction of items on which two judges agree."""
    if len(a) != len(b) or not a:
        raise DataError(f"judges' lists hold {len(a)} and {len(b)} verdicts", "agreement",
                        "judge the same, non-empty list of replies with both")
    return sum(x == y for x, y in zip(a, b)) / len(a)
