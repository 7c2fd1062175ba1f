"""A guard classifier: sentence-encoder embeddings of (prompt, reply) plus a logistic-regression head.

Label 1 means "this reply complies with an unsafe request". Small, fast and inspectable, it stands
in for Llama Guard / ShieldGemma, which the gpu profile names but the course does not download.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression

from labkit.errors import DataError


def pair_text(prompt: str, reply: str) -> str:
    """One string per pair, so the encoder sees both the request and the answer."""
    return f"Request: {prompt}\nReply: {reply}"


@dataclass
class Guard:
    encoder: object  # a sentence-transformers model (anything with .encode)
    head: LogisticRegression

    def embed(self, prompts: list[str], replies: list[str]) -> np.ndarray:
        texts = [pair_text(p, r) for p, r in zip(prompts, replies)]
        return np.asarray(self.encoder.encode(texts, normalize_embeddings=True))

    def predict(self, prompts: list[str], replies: list[str], threshold: float = 0.5) -> list[bool]:
        """True where the reply is judged an unsafe compliance."""
        proba = self.head.predict_proba(self.embed(prompts, replies))[:, 1]
        return [bool(p >= threshold) for p in proba]


def train_guard(encoder, prompts: list[str], replies: list[str], labels: list[int],
                C: float = 4.0, seed: int = 0) -> Guard:
    """Fit the head on labelled pairs; both classes are required or the head learns nothing."""
    if not (len(prompts) == len(replies) == len(labels)):
        raise DataError("prompts, replies and labels differ in length", "pass aligned lists")
    if len(set(labels)) < 2:
        raise DataError(f"labels hold one class only ({set(labels)})", "include 0 and 1 examples")
    guard = Guard(encoder, LogisticRegression(C=C, max_iter=2000, random_state=seed))
    guard.head.fit(guard.embed(prompts, replies), np.asarray(labels))
    return guard


def precision_recall(predicted: list[bool], actual: list[int]) -> tuple[float, float]:
    """Precision and recall of the positive class (unsafe compliance)."""
    tp = sum(p and a for p, a in zip(predicted, actual))
    fp = sum(p and not a for p, a in zip(predicted, actual))
    fn = sum((not p) and a for p, a in zip(predicted, actual))
    return (tp / (tp + fp) if tp + fp else 0.0), (tp / (tp + fn) if tp + fn else 0.0)


def agreement(a: list[bool], b: list[bool]) -> float:
    """Fraction of items on which two judges agree."""
    if len(a) != len(b) or not a:
        raise DataError("judges' lists differ in length or are empty", "judge the same replies")
    return sum(x == y for x, y in zip(a, b)) / len(a)
