"""Classification metrics and predictions for sequence classifiers (notebooks 03 and 08).

Accuracy alone hides what a classifier gets wrong: on an imbalanced set, always answering the
majority class can score well. So every comparison reports macro-F1 too (the F1 of each class,
averaged with equal weight, so a neglected small class pulls it down) and a confusion matrix.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch


@dataclass
class Scores:
    """Accuracy and macro-F1 of one set of predictions."""

    accuracy: float
    macro_f1: float


def scores(predictions: Sequence, labels: Sequence) -> Scores:
    """Accuracy and macro-F1 (scikit-learn's definitions; a class never predicted has F1 0)."""
    from sklearn.metrics import accuracy_score, f1_score

    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return Scores(accuracy=float(accuracy_score(labels, predictions)),
                  macro_f1=float(f1_score(labels, predictions, average="macro", zero_division=0)))


def majority_baseline(train_labels: Sequence, test_labels: Sequence) -> list:
    """Predictions of the classifier that always answers the most frequent training label."""
    majority = Counter(train_labels).most_common(1)[0][0]
    return [majority] * len(test_labels)


def confusion(predictions: Sequence, labels: Sequence, classes: Sequence) -> list[list[int]]:
    """``matrix[i][j]``: how many examples of true class ``classes[i]`` were predicted ``classes[j]``."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(labels, predictions, labels=list(classes)).tolist()


@torch.no_grad()
def predict(model, tokenizer, texts: Sequence[str], batch_size: int = 32, max_length: int = 256) -> list[int]:
    """The arg-max class index a sequence classifier gives each text."""
    model.eval()
    device = next(model.parameters()).device
    predictions: list[int] = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True,
                          truncation=True, max_length=max_length).to(device)
        predictions += model(**batch).logits.argmax(-1).tolist()
    return predictions


def plot_confusion(matrix: Sequence[Sequence[int]], classes: Sequence[str], title: str = "", ax=None):
    """A confusion matrix as a heat map with counts: rows are true classes, columns predictions."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(len(classes)), yticks=range(len(classes)), xlabel="predicted", ylabel="true", title=title)
    ax.set_xticklabels(classes, rotation=45, ha="right")
    ax.set_yticklabels(classes)
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            ax.text(j, i, count, ha="center", va="center", color="white" if count > peak / 2 else "black")
    return ax
