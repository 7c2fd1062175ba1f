"""Federated averaging written out: clients train locally, the server averages their weights.

FedAvg (McMahan et al., 2017) weights each client's parameters by its number of examples. Only
the trainable part travels, so sending an adapter or a head instead of the full model is what
makes federated fine-tuning cheap in bytes.
"""

from __future__ import annotations

import numpy as np
import torch


def fedavg(states: list[dict[str, torch.Tensor]], sizes: list[int]) -> dict[str, torch.Tensor]:
    """The example-weighted mean of client state dicts (same keys and shapes on every client)."""
    if not states or len(states) != len(sizes):
        raise ValueError(f"fedavg needs one size per client state: {len(states)} states, {len(sizes)} sizes")
    total = float(sum(sizes))
    return {key: sum(state[key].float() * (n / total) for state, n in zip(states, sizes)) for key in states[0]}


def label_skew_split(labels: np.ndarray, n_clients: int, labels_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Indices per client: client i holds only labels i, i+1, ... (mod the number of labels), so no
    client sees every label, the non-identical data federated learning has to cope with."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    owners = {c: [i for i in range(n_clients) if c in {classes[(i + j) % len(classes)] for j in range(labels_per_client)}]
              for c in classes}
    parts: list[list[int]] = [[] for _ in range(n_clients)]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        for k, chunk in enumerate(np.array_split(idx, max(len(owners[c]), 1))):
            if owners[c]:
                parts[owners[c][k]].extend(chunk.tolist())
    return [np.array(sorted(p)) for p in parts]


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes one copy of ``state`` takes on the wire (raw tensor data)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def local_train(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                batch_size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """A client's round: a few epochs of SGD on its own data from the server's weights; returns its new weights."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for _ in range(epochs):
        for batch in torch.randperm(len(y), generator=generator).split(batch_size):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
