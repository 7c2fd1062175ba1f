import numpy as np
import pytest
import torch
import torch.nn.functional as F

from labkit.dataprep import imbalance


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_down_weights_easy_examples():
    torch.manual_seed(0)
    logits, targets = torch.randn(16, 3), torch.randint(3, (16,))
    assert imbalance.focal_loss(logits, targets, gamma=0.0).item() == pytest.approx(F.cross_entropy(logits, targets).item())
    weight = torch.tensor([1.0, 2.0, 5.0])
    assert imbalance.focal_loss(logits, targets, gamma=0.0, weight=weight).item() == pytest.approx(
        (F.cross_entropy(logits, targets, reduction="none") * weight[targets]).mean().item())
    easy = torch.tensor([[6.0, 0.0, 0.0]])
    hard = torch.tensor([[0.0, 0.5, 0.0]])
    target = torch.tensor([0])
    # gamma shrinks the confident, correct example's loss far more than the wrong one's
    easy_ratio = imbalance.focal_loss(easy, target, 2.0) / F.cross_entropy(easy, target)
    hard_ratio = imbalance.focal_loss(hard, target, 2.0) / F.cross_entropy(hard, target)
    assert easy_ratio < 1e-4 < 0.3 < hard_ratio < 1


def test_oversample_and_undersample_balance_the_classes():
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2)
    over = imbalance.oversample(labels, seed=0)
    assert np.bincount(labels[over]).tolist() == [20, 20, 20]
    assert set(np.flatnonzero(labels == 2)) <= set(over)  # every original example kept
    under = imbalance.undersample(labels, seed=0)
    assert np.bincount(labels[under]).tolist() == [2, 2, 2]
    assert len(set(under)) == 6  # no repeats
    assert not np.array_equal(imbalance.undersample(labels, seed=1), under)


def test_smote_tops_up_minorities_with_points_between_same_class_neighbours():
    rng = np.random.default_rng(0)
    majority = rng.normal(0, 1, (30, 4))
    minority = rng.normal(10, 0.1, (4, 4))  # far away: synthetic points must stay near it
    features = np.concatenate([majority, minority]).astype(np.float32)
    labels = np.array([0] * 30 + [1] * 4)
    new_x, new_y = imbalance.smote(features, labels, k=3, seed=0)
    assert np.bincount(new_y).tolist() == [30, 30]
    assert np.array_equal(new_x[:34], features)  # originals first, unchanged
    synthetic = new_x[34:]
    assert synthetic.dtype == np.float32
    low, high = minority.min(0), minority.max(0)
    assert np.all(synthetic >= low - 1e-6) and np.all(synthetic <= high + 1e-6)  # inside the minority's box


def test_linear_head_learns_a_separable_problem_and_is_reproducible():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(-2, 1, (50, 3)), rng.normal(2, 1, (50, 3))])
    labels = np.array([0] * 50 + [1] * 50)
    head = imbalance.train_linear_head(features, labels, 2, steps=100, learning_rate=0.05, seed=0)
    assert (imbalance.predict(head, features) == labels).mean() > 0.95
    again = imbalance.train_linear_head(features, labels, 2, steps=100, learning_rate=0.05, seed=0)
    assert torch.equal(head.weight, again.weight)


def test_class_weights_lift_recall_of_a_rare_overlapping_class():
    rng = np.random.default_rng(0)
    features = np.concatenate([rng.normal(0, 1, (400, 2)), rng.normal(1.5, 1, (20, 2))])
    labels = np.array([0] * 400 + [1] * 20)
    plain = imbalance.train_linear_head(features, labels, 2, steps=300, learning_rate=0.05, seed=0)
    weight = torch.tensor([1.0, 20.0])
    weighted = imbalance.train_linear_head(features, labels, 2, steps=300, learning_rate=0.05, seed=0,
                                           loss=lambda logits, y: F.cross_entropy(logits, y, weight=weight))
    rare = labels == 1
    recall_plain = (imbalance.predict(plain, features[rare]) == 1).mean()
    recall_weighted = (imbalance.predict(weighted, features[rare]) == 1).mean()
    assert recall_weighted >= recall_plain + 0.3
