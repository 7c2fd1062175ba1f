"""Sparse mixture of experts by up-cycling a dense model (notebook 15, survey §6.6).

*Sparse up-cycling* (Komatsuzaki et al., 2022) turns a trained dense model into a mixture of
experts without training from scratch: each chosen layer's MLP is copied ``n_experts`` times and a
new **router** (one linear map to ``n_experts`` scores) sends every token to its ``top_k``
experts, Mixtral style: the output is the sum of the chosen experts' outputs weighted by a softmax
over the chosen scores. Because the weights of the chosen experts sum to one, an up-cycled layer
whose experts are still identical computes exactly what the dense MLP did, so fine-tuning starts
from the dense model's quality.

Training adds the Switch Transformer **load-balancing loss** ``n_experts * sum_i f_i * P_i``
(``f_i`` the share of tokens sent to expert ``i``, ``P_i`` its mean router probability), which is
1 when the load is even and grows when a few experts take every token.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from labkit.seeding import shifted


class MoEMLP(nn.Module):
    """``n_experts`` copies of a dense MLP behind a learned top-``k`` router."""

    def __init__(self, mlp: nn.Module, hidden_size: int, n_experts: int = 4, top_k: int = 2, router_std: float = 0.02):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be between 1 and n_experts={n_experts}, got {top_k}")
        self.experts = nn.ModuleList(copy.deepcopy(mlp) for _ in range(n_experts))
        self.router = nn.Linear(hidden_size, n_experts, bias=False)
        nn.init.normal_(self.router.weight, std=router_std)
        weight = next(mlp.parameters())
        self.router.to(device=weight.device, dtype=weight.dtype)
        self.top_k = top_k
        self.aux_loss = torch.zeros(())  # the load-balancing loss of the last forward pass
        self.load = torch.zeros(n_experts)  # tokens sent to each expert, summed until reset_load()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shape = hidden.shape
        tokens = hidden.reshape(-1, shape[-1])
        scores = self.router(tokens)  # (tokens, n_experts)
        top_scores, chosen = scores.topk(self.top_k, dim=-1)
        weights = top_scores.softmax(dim=-1).to(tokens.dtype)  # softmax over the chosen experts only
        out = torch.zeros_like(tokens)
        for e, expert in enumerate(self.experts):
            rows, slot = (chosen == e).nonzero(as_tuple=True)
            if len(rows):  # run each expert only on its own tokens: the point of sparsity
                out.index_add_(0, rows, expert(tokens[rows]) * weights[rows, slot, None])
        self.aux_loss = self.balance_loss(scores, chosen)
        self.load = self.load + torch.bincount(chosen.flatten(), minlength=len(self.experts)).detach().cpu().float()
        return out.reshape(shape)

    def balance_loss(self, scores: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
        """Switch Transformer load-balancing loss: ``n * sum_i f_i * P_i`` (1 when perfectly balanced)."""
        n = len(self.experts)
        share = torch.bincount(chosen.flatten(), minlength=n).float() / chosen.numel()  # f_i (not differentiable)
        probability = scores.float().softmax(dim=-1).mean(dim=0)  # P_i (differentiable)
        return n * (share * probability).sum()

    def reset_load(self) -> None:
        self.load = torch.zeros(len(self.experts))


def upcycle(model, layers: list[int], n_experts: int = 4, top_k: int = 2, seed: int = 0) -> list[MoEMLP]:
    """Replace the MLP of each decoder layer in ``layers`` by an up-cycled :class:`MoEMLP`, in place.

    Returns the new MoE modules (to read their load and losses). The router is seeded with ``seed``.
    """
    torch.manual_seed(shifted(seed))
    decoder = model.model
    moes = []
    for index in layers:
        layer = decoder.layers[index]
        layer.mlp = MoEMLP(layer.mlp, model.config.hidden_size, n_experts, top_k)
        moes.append(layer.mlp)
    return moes


def moe_layers(model) -> list[MoEMLP]:
    """Every :class:`MoEMLP` inside ``model``."""
    return [module for module in model.modules() if isinstance(module, MoEMLP)]


def load_balancing_loss(model) -> torch.Tensor:
    """Mean load-balancing loss of the last forward pass over all MoE layers."""
    return torch.stack([moe.aux_loss for moe in moe_layers(model)]).mean()


def expert_load(model) -> torch.Tensor:
    """Share of routed token slots per expert, one row per MoE layer (rows sum to 1)."""
    load = torch.stack([moe.load for moe in moe_layers(model)])
    return load / load.sum(dim=1, keepdim=True).clamp(min=1)


def reset_load(model) -> None:
    for moe in moe_layers(model):
        moe.reset_load()
