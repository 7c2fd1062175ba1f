"""A small recurrent language model (a GRU), trained from scratch in a notebook on a CPU.

It reads the same token ids as the pretrained transformer, so the three models of notebook 01
are scored on identical targets. To stay fast it predicts only over the tokens that occur in its
training text at least twice (a few thousand, not all 49,152), plus one ``<unk>`` class; the
probability of ``<unk>`` is shared equally among all the tokens outside that list. That keeps it a proper
distribution over the tokenizer's whole vocabulary, which is what makes its perplexity
comparable with the others'.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from labkit.seeding import shifted


@dataclass
class Vocabulary:
    """Maps tokenizer ids to a compact range; every other id shares index 0 (``<unk>``)."""

    ids: list[int]  # tokenizer ids seen in training; compact index = position + 1
    full_size: int  # the tokenizer's vocabulary size

    @classmethod
    def from_sequences(cls, sequences: Sequence[Sequence[int]], full_size: int, min_count: int = 2) -> "Vocabulary":
        """Tokens seen at least ``min_count`` times. Rarer ones train the ``<unk>`` class, so the
        model learns how often a new token turns up, instead of assuming it never does."""
        counts = Counter(t for ids in sequences for t in ids)
        return cls(sorted(t for t, n in counts.items() if n >= min_count), full_size)

    def __post_init__(self) -> None:
        self._index = {token: i + 1 for i, token in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.ids) + 1

    def encode(self, ids: Sequence[int]) -> torch.Tensor:
        return torch.tensor([self._index.get(t, 0) for t in ids], dtype=torch.long)

    @property
    def unseen(self) -> int:
        """How many tokenizer ids the ``<unk>`` class stands for."""
        return self.full_size - len(self.ids)


class GRULanguageModel(nn.Module):
    """Embedding -> GRU -> linear layer over the compact vocabulary."""

    def __init__(self, vocab: Vocabulary, embedding_dim: int = 128, hidden_size: int = 256,
                 num_layers: int = 1, dropout: float = 0.2):
        super().__init__()
        self.vocab = vocab
        self.embed = nn.Embedding(len(vocab), embedding_dim)
        self.gru = nn.GRU(embedding_dim, hidden_size, num_layers=num_layers, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, len(vocab))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits over the compact vocabulary for the token after each position."""
        hidden, _ = self.gru(self.drop(self.embed(tokens)))
        return self.head(self.drop(hidden))


def _chunks(stream: torch.Tensor, length: int) -> torch.Tensor:
    """The token stream cut into rows of ``length + 1`` (inputs and shifted targets)."""
    rows = (len(stream) - 1) // length
    return torch.stack([stream[i * length: i * length + length + 1] for i in range(rows)])


def train_rnn(model: GRULanguageModel, sequences: Sequence[Sequence[int]], epochs: int = 5,
              seq_len: int = 64, batch_size: int = 16, lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Train on the concatenated sequences with Adam; returns the mean loss of each epoch.

    The texts are joined into one stream and cut into fixed-length rows, the classic way to
    train a recurrent LM: no padding, every token is a training target.
    """
    generator = torch.Generator().manual_seed(shifted(seed))
    torch.manual_seed(shifted(seed))
    rows = _chunks(torch.cat([model.vocab.encode(ids) for ids in sequences]), seq_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    model.train()
    for _ in range(epochs):
        order, total = torch.randperm(len(rows), generator=generator), 0.0
        for start in range(0, len(rows), batch_size):
            batch = rows[order[start:start + batch_size]]
            logits = model(batch[:, :-1])
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / len(rows))
    model.eval()
    return history


@torch.no_grad()
def perplexity(model: GRULanguageModel, sequences: Sequence[Sequence[int]]) -> float:
    """Perplexity over the tokenizer's full vocabulary; the first token of each sequence is not predicted.

    An unseen token gets ``P(<unk>) / unseen``: the ``<unk>`` mass spread evenly over the tokens
    the model never saw, so the probabilities over all tokenizer ids sum to one.
    """
    model.eval()
    nll, count = 0.0, 0
    for ids in sequences:
        tokens = model.vocab.encode(ids)
        log_probs = torch.log_softmax(model(tokens[None, :-1])[0], dim=-1)
        targets = tokens[1:]
        picked = log_probs.gather(1, targets[:, None])[:, 0]
        picked = torch.where(targets == 0, picked - math.log(model.vocab.unseen), picked)
        nll -= picked.sum().item()
        count += len(targets)
    return math.exp(nll / max(count, 1))
