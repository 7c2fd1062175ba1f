"""Secret-sharer canaries (Carlini et al., 2019) and a LoRA on SmolLM2's LM head that can memorise them.

A canary is a random secret ("Ana's PIN is 4-7-1.") put into the fine-tuning data k times. Its
**exposure** is log2(#candidates) - log2(rank), the rank of the true secret among every possible
secret by the model's log-likelihood: about 1 bit for a secret the model never saw, log2(#candidates)
when it ranks first. The trainable part is a LoRA on the LM head over *cached* hidden states of the
frozen model, so a DP-SGD run with per-sample gradients costs seconds, not minutes.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


@dataclass(frozen=True)
class Canary:
    prefix: str  # "Ana's PIN is"
    secret: tuple[int, ...]  # (4, 7, 1)

    @property
    def text(self) -> str:
        return f"{self.prefix} {'-'.join(map(str, self.secret))}."


def make_canaries(names: list[str], digits: int = 3, seed: int = 0) -> list[Canary]:
    """One random PIN per name, drawn uniformly: no secret is special to the pretrained model."""
    rng = np.random.default_rng(seed)
    return [Canary(f"{name}'s PIN is", tuple(int(d) for d in rng.integers(0, 10, digits))) for name in names]


class LoraHead(torch.nn.Module):
    """The LoRA update of the LM head: logits = base_logits + (alpha / r) * B(A(h)), B starting at zero."""

    def __init__(self, hidden: int, vocab: int, r: int = 8, alpha: float = 16.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.lora_A = torch.nn.Linear(hidden, r, bias=False)
        self.lora_B = torch.nn.Linear(r, vocab, bias=False)
        torch.nn.init.zeros_(self.lora_B.weight)
        self.scale = alpha / r

    def delta(self, h: torch.Tensor) -> torch.Tensor:
        return self.scale * self.lora_B(self.lora_A(h))

    def forward(self, h: torch.Tensor, base_logits: torch.Tensor) -> torch.Tensor:
        return base_logits + self.delta(h)


class AdaptedHead(torch.nn.Module):
    """The frozen LM head plus a trained LoraHead: put in place of ``lm.lm_head`` to generate with it."""

    def __init__(self, lm_head: torch.nn.Module, lora: LoraHead):
        super().__init__()
        self.lm_head, self.lora = lm_head, lora

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        lora = self.lora.to(h.device)
        return self.lm_head(h) + lora.delta(h.float()).to(h.dtype)


@torch.no_grad()
def hidden_states(lm, tokenizer, texts: list[str], max_length: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """Final hidden states (after the last norm) of the frozen model, float32, and the token ids (-100 = padding)."""
    enc = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    h = lm.model(input_ids=enc["input_ids"].to(lm.device),
                 attention_mask=enc["attention_mask"].to(lm.device)).last_hidden_state.float().cpu()
    ids = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
    return h, ids


@torch.no_grad()
def cache_training_data(lm, tokenizer, texts: list[str], max_length: int = 32) -> TensorDataset:
    """(hidden state, frozen logits, next token) per position: everything a LoRA-on-the-head step needs."""
    if tokenizer.padding_side != "right":
        raise ValueError("cache_training_data expects right padding (tokenizer.padding_side = 'right')")
    h, ids = hidden_states(lm, tokenizer, texts, max_length)
    h, targets = h[:, :-1], ids[:, 1:]
    base = h @ lm.lm_head.weight.detach().float().cpu().T  # the frozen logits, in float32 whatever the model's dtype
    return TensorDataset(h, base, targets)


def _sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token loss per sequence, then over the batch: each sequence is one example (the DP unit)."""
    per_token = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100,
                                                  reduction="none").view(targets.shape)
    mask = (targets != -100).float()
    return ((per_token * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()


def train_lora_head(dataset: TensorDataset, epochs: int, lr: float = 1e-2, batch_size: int = 8, r: int = 8,
                    target_epsilon: float | None = None, delta: float = 1e-3, max_grad_norm: float = 1.0,
                    seed: int = 0) -> tuple[LoraHead, float | None]:
    """Adam on the LoRA head; with ``target_epsilon``, DP-SGD by Opacus (per-sequence clipping + noise).
    Returns the LoRA and the ε its accountant reports (None without DP)."""
    hidden, vocab = dataset.tensors[0].shape[-1], dataset.tensors[1].shape[-1]
    lora = LoraHead(hidden, vocab, r=r, seed=seed)
    optimizer = torch.optim.Adam(lora.parameters(), lr=lr)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    model, engine = lora, None
    if target_epsilon is not None:
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant="rdp")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, optimizer, loader = engine.make_private_with_epsilon(
                module=lora, optimizer=optimizer, data_loader=loader, target_epsilon=target_epsilon,
                target_delta=delta, epochs=epochs, max_grad_norm=max_grad_norm)
    for _ in range(epochs):
        for h, base, targets in loader:
            if len(targets) == 0:
                continue
            optimizer.zero_grad()
            _sequence_loss(model(h, base), targets).backward()
            optimizer.step()
    return lora, (float(engine.get_epsilon(delta)) if engine is not None else None)


@dataclass
class CandidateCache:
    """Hidden states of every secret's context, computed once with the frozen model and reused for each LoRA."""

    canary: Canary
    h: torch.Tensor  # (10**(digits-1), digits, hidden): the positions that predict each digit
    digit_ids: list[int]  # token id of "0" ... "9"


def candidate_cache(lm, tokenizer, canary: Canary) -> CandidateCache:
    """The contexts "<prefix> d1-...-d(n-1)-" for all d: digit j is predicted at the token before it."""
    n = len(canary.secret)
    digit_ids = [tokenizer.convert_tokens_to_ids(str(d)) for d in range(10)]
    texts = [Canary(canary.prefix, tuple(p) + (0,)).text[:-1] for p in itertools.product(range(10), repeat=n - 1)]
    enc = tokenizer(texts, return_tensors="pt", padding=True)
    if tokenizer.padding_side != "right" or len(set(enc["attention_mask"].sum(1).tolist())) != 1:
        raise ValueError("candidate texts must tokenise to equal lengths with right padding")
    ids = enc["input_ids"]
    if any(ids[0, -1 - 2 * k].item() not in digit_ids for k in range(n)):
        raise ValueError(f"{texts[0]!r}: the tokenizer does not give one token per digit")
    with torch.no_grad():
        h = lm.model(input_ids=ids.to(lm.device)).last_hidden_state.float().cpu()
    positions = [ids.shape[1] - 2 - 2 * (n - 1 - j) for j in range(n)]  # the token before digit j
    return CandidateCache(canary, h[:, positions], digit_ids)


@torch.no_grad()
def candidate_scores(cache: CandidateCache, lm_head: torch.nn.Module, lora: LoraHead | None) -> np.ndarray:
    """log P(secret) for all 10**n secrets, in lexicographic order (index = the secret read as a number)."""
    logits = cache.h @ lm_head.weight.detach().float().cpu().T
    if lora is not None:
        logits = logits + lora.delta(cache.h)
    lp = torch.log_softmax(logits, -1)[..., cache.digit_ids]  # (10**(n-1), n, 10)
    n = lp.shape[1]
    scores = []
    for secret in itertools.product(range(10), repeat=n):
        row = int("".join(map(str, secret[:-1])) or "0")
        scores.append(sum(lp[row, j, d].item() for j, d in enumerate(secret)))
    return np.array(scores)


def exposure(scores: np.ndarray, secret: tuple[int, ...]) -> float:
    """log2(#candidates) - log2(rank of the true secret), rank 1 = most likely (ties count against it)."""
    true = scores[int("".join(map(str, secret)))]
    rank = int(np.sum(scores >= true))
    return math.log2(len(scores)) - math.log2(rank)


@torch.no_grad()
def extract(lm, tokenizer, prefix: str, lora: LoraHead | None, max_new_tokens: int = 6) -> str:
    """Greedy continuation of ``prefix`` with the LoRA head in place: the attacker's extraction attempt."""
    original = lm.lm_head
    if lora is not None:
        lm.lm_head = AdaptedHead(original, lora)
    try:
        enc = tokenizer(prefix, return_tensors="pt").to(lm.device)
        out = lm.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    finally:
        lm.lm_head = original
    return tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)
