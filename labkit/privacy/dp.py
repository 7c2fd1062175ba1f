"""DP-SGD with Opacus on a linear head over frozen sentence embeddings.

Training only the head keeps per-sample gradients tiny, so many DP epochs run in seconds on a CPU;
the privacy guarantee covers the training examples the head sees (the encoder is not trained).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from labkit import evaluate


@dataclass
class HeadRun:
    """A trained head and what its training cost in privacy (epsilon is None without DP)."""

    head: torch.nn.Linear
    epsilon: float | None
    delta: float | None
    noise_multiplier: float | None

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        with torch.no_grad():
            pred = self.head(torch.as_tensor(X, dtype=torch.float32)).argmax(-1).numpy()
        return evaluate.accuracy(pred.tolist(), np.asarray(y).tolist())


def train_head(X: np.ndarray, y: np.ndarray, n_classes: int, epochs: int, batch_size: int = 64, lr: float = 0.5,
               target_epsilon: float | None = None, delta: float = 1e-3, max_grad_norm: float = 1.0,
               seed: int = 0) -> HeadRun:
    """SGD on a linear head; with ``target_epsilon`` Opacus clips each example's gradient to
    ``max_grad_norm``, adds Gaussian noise calibrated so that ``epochs`` of Poisson-sampled batches
    spend exactly ``target_epsilon`` at ``delta``, and its RDP accountant reports the ε spent."""
    torch.manual_seed(seed)
    head = torch.nn.Linear(X.shape[1], n_classes)
    optimizer = torch.optim.SGD(head.parameters(), lr=lr)
    dataset = TensorDataset(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    engine = None
    if target_epsilon is not None:
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant="rdp")
        with warnings.catch_warnings():  # Opacus warns that secure_mode is off: fine for teaching, not for production
            warnings.simplefilter("ignore")
            head, optimizer, loader = engine.make_private_with_epsilon(
                module=head, optimizer=optimizer, data_loader=loader, target_epsilon=target_epsilon,
                target_delta=delta, epochs=epochs, max_grad_norm=max_grad_norm)
    model = head
    for _ in range(epochs):
        for xb, yb in loader:
            if len(yb) == 0:  # Poisson sampling can draw an empty batch
                continue
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
    plain = model._module if engine is not None else model
    if engine is None:
        return HeadRun(plain, None, None, None)
    return HeadRun(plain, float(engine.get_epsilon(delta)), delta, float(optimizer.noise_multiplier))
