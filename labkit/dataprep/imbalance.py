"""Learning from an imbalanced label set: re-sampling, re-weighting and focal loss (notebook 08).

A classifier trained on 90 % of one class learns that answering that class is nearly always
right, and the rare classes, often the ones that matter, are missed. There are two families of
remedies, and this module holds one small, tested version of each, so notebooks can compare them
on equal terms (same features, same head, same number of optimiser steps):

* change the **data** the model sees: random over-sampling, random under-sampling, SMOTE;
* change the **loss**: class weights (``cross_entropy(weight=...)``) or focal loss.

Everything works on fixed feature vectors (e.g. frozen MiniLM sentence embeddings) and a linear
head, so a whole comparison over several seeds takes seconds on a CPU.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from labkit.seeding import shifted

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 2.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean focal loss (Lin et al., 2017): cross-entropy scaled by ``(1 - p_true) ** gamma``.

    Examples the model already gets right with confidence (most majority-class ones) have
    ``p_true`` near 1 and contribute almost nothing, so the gradient comes from the hard and rare
    ones. ``gamma=0`` gives plain cross-entropy; ``weight`` (one per class) adds class weights.
    """
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    loss = -((1 - log_p.exp()) ** gamma) * log_p
    if weight is not None:
        loss = loss * weight[targets]
    return loss.mean()


def oversample(labels, seed: int = 0) -> np.ndarray:
    """Indices that repeat examples of every class at random until each has the majority's count."""
    labels, rng = np.asarray(labels), np.random.default_rng(seed)
    target = np.bincount(labels).max()
    picks = [np.concatenate([members, rng.choice(members, target - len(members), replace=True)])
             for members in (np.flatnonzero(labels == c) for c in np.unique(labels))]
    return rng.permutation(np.concatenate(picks))


def undersample(labels, seed: int = 0) -> np.ndarray:
    """Indices that keep, from every class, a random subset the size of the smallest class."""
    labels, rng = np.asarray(labels), np.random.default_rng(seed)
    target = min(np.bincount(labels)[np.unique(labels)])
    picks = [rng.choice(np.flatnonzero(labels == c), target, replace=False) for c in np.unique(labels)]
    return rng.permutation(np.concatenate(picks))


def smote(features, labels, k: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE (Chawla et al., 2002): new minority points on segments to same-class neighbours.

    Every class is topped up to the majority's count with points ``x + u * (neighbour - x)``,
    ``u`` uniform in [0, 1), ``neighbour`` one of the ``k`` nearest examples of the same class.
    Returns the original examples followed by the synthetic ones.
    """
    from sklearn.neighbors import NearestNeighbors

    features, labels, rng = np.asarray(features), np.asarray(labels), np.random.default_rng(seed)
    target = np.bincount(labels).max()
    new_x, new_y = [features], [labels]
    for c in np.unique(labels):
        members = features[labels == c]
        need = target - len(members)
        if need == 0 or len(members) < 2:
            continue
        neighbours = NearestNeighbors(n_neighbors=min(k, len(members) - 1) + 1).fit(members)
        nearest = neighbours.kneighbors(members, return_distance=False)[:, 1:]  # column 0 is the point itself
        base = rng.integers(len(members), size=need)
        partner = nearest[base, rng.integers(nearest.shape[1], size=need)]
        step = rng.random((need, 1))
        new_x.append(members[base] + step * (members[partner] - members[base]))
        new_y.append(np.full(need, c))
    return np.concatenate(new_x).astype(features.dtype), np.concatenate(new_y)


def train_linear_head(features, labels, num_classes: int, loss: Loss = F.cross_entropy, steps: int = 300,
                      batch_size: int = 32, learning_rate: float = 0.01, seed: int = 0) -> torch.nn.Linear:
    """A linear classifier (logistic regression) trained with Adam on random mini-batches.

    A fixed number of ``steps`` whatever the data's size, so over-sampled, under-sampled and
    original sets get the same compute. ``loss(logits, targets)`` is where re-weighting goes.
    """
    generator = torch.Generator().manual_seed(shifted(seed))
    x = torch.as_tensor(np.asarray(features), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    torch.manual_seed(shifted(seed))
    head = torch.nn.Linear(x.shape[1], num_classes)
    optimizer = torch.optim.Adam(head.parameters(), lr=learning_rate)
    for _ in range(steps):
        batch = torch.randint(len(x), (batch_size,), generator=generator)
        optimizer.zero_grad()
        loss(head(x[batch]), y[batch]).backward()
        optimizer.step()
    return head.eval()


@torch.no_grad()
def predict(head: torch.nn.Linear, features) -> np.ndarray:
    """Arg-max class of each feature row."""
    return head(torch.as_tensor(np.asarray(features), dtype=torch.float32)).argmax(-1).numpy()
