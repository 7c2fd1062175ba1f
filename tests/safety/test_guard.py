import numpy as np
import pytest

from labkit.errors import DataError
from labkit.safety.guard import agreement, precision_recall, train_guard


class BagEncoder:
    """A tiny stand-in for MiniLM: counts two marker words."""

    def encode(self, texts, normalize_embeddings=True):
        return np.array([[t.count("sure"), t.count("sorry"), 1.0] for t in texts], dtype=float)


def test_guard_learns_compliance_vs_refusal():
    prompts = ["bad request"] * 8
    replies = ["sure, here"] * 4 + ["sorry, no"] * 4
    labels = [1] * 4 + [0] * 4
    guard = train_guard(BagEncoder(), prompts, replies, labels)
    assert guard.predict(["bad"], ["sure thing"]) == [True]
    assert guard.predict(["bad"], ["sorry"]) == [False]
    assert guard.proba(["bad"], ["sure"])[0] > guard.proba(["bad"], ["sorry"])[0]
    with pytest.raises(DataError):
        train_guard(BagEncoder(), prompts[:2], replies[:2], [1, 1])
    with pytest.raises(DataError):
        guard.predict(["a", "b"], ["sure"])


def test_embedding_keeps_request_and_reply_apart():
    guard = train_guard(BagEncoder(), ["sure"] * 2 + ["x"] * 2, ["a", "a", "sorry", "sorry"], [1, 1, 0, 0])
    assert guard.embed(["sure"], ["sorry"]).tolist() == [[1.0, 0.0, 1.0, 0.0, 1.0, 1.0]]


def test_precision_recall_and_agreement():
    assert precision_recall([True, True, False], [1, 0, 1]) == (0.5, 0.5)
    assert agreement([True, False], [True, True]) == 0.5
    with pytest.raises(DataError):
        agreement([], [])
