import matplotlib

matplotlib.use("agg")

import pytest
import torch

from labkit.tasks import classify


def test_scores_and_majority_baseline():
    labels = ["a", "a", "a", "b"]
    majority = classify.majority_baseline(["a", "a", "b"], labels)
    assert majority == ["a"] * 4
    s = classify.scores(majority, labels)
    assert s.accuracy == pytest.approx(0.75)
    assert s.macro_f1 == pytest.approx((6 / 7 + 0) / 2)  # class b never predicted: its F1 is 0
    with pytest.raises(ValueError):
        classify.scores(["a"], labels)


def test_confusion_rows_are_true_classes():
    matrix = classify.confusion(["a", "b", "b"], ["a", "a", "b"], classes=["a", "b"])
    assert matrix == [[1, 1], [0, 1]]
    assert classify.plot_confusion(matrix, ["a", "b"]) is not None


class _FixedClassifier(torch.nn.Module):
    """Predicts class 1 for any text longer than three tokens, else 0."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids, attention_mask, **kwargs):
        long = (attention_mask.sum(1) > 3).float()
        return type("Out", (), {"logits": torch.stack([1 - long, long], dim=1)})()


def test_predict_batches(tokenizer):
    texts = ["hi", "a much longer text than the first one", "ok", "another long sentence here, surely"]
    assert classify.predict(_FixedClassifier(), tokenizer, texts, batch_size=3) == [0, 1, 0, 1]
