"""Half fine-tuning (survey §6.4): train only half of a model's weights, freeze the rest.

Half fine-tuning (HFT, Hui et al. 2024) fights catastrophic forgetting without adding modules:
in every round of fine-tuning half of the parameters are chosen to learn the new task, and the
other half stay exactly as they were, holding what the model knew before. The choice is made at
the *category* level inside each transformer layer, so every layer keeps some old weights.

The rule used here, stated once so a notebook can print it:

* in each decoder layer, a seeded random **2 of the 4 attention matrices** (q, k, v, o) are frozen;
* in each decoder layer, a seeded random **1 or 2 of the 3 MLP matrices** (gate, up, down) are
  frozen, alternating layer by layer, so that over the model half of the MLP matrices are frozen;
* the token embedding (shared with the LM head in SmolLM2) is frozen by default: it is one matrix
  and cannot be halved at the category level, and it holds the vocabulary every old skill uses;
* norms stay trainable (a few thousand numbers).

A new round draws a new half: call :func:`half_freeze` again with another ``seed``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


@dataclass
class FreezePlan:
    """What :func:`half_freeze` froze: parameter names and counts (tied tensors count once)."""

    rule: str
    frozen: list[str] = field(repr=False)
    trainable: list[str] = field(repr=False)
    frozen_parameters: int
    trainable_parameters: int

    @property
    def fraction_frozen(self) -> float:
        return self.frozen_parameters / max(self.frozen_parameters + self.trainable_parameters, 1)

    def frozen_in_layer(self, index: int) -> list[str]:
        """Short names of the matrices frozen in decoder layer ``index`` (e.g. ``['k_proj', 'up_proj']``)."""
        marker = f"layers.{index}."
        return sorted(name.split(".")[-2] for name in self.frozen if marker in name and name.endswith(".weight"))


def decoder_layers(model) -> torch.nn.ModuleList:
    """The list of decoder layers of a Llama-style causal LM (``model.model.layers``), under a peft wrapper too."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return base.model.layers
    except AttributeError as error:
        raise TypeError(f"{type(base).__name__} has no .model.layers; half_freeze expects a Llama-style decoder") from error


def _count(model, names: set[str]) -> int:
    seen, total = set(), 0
    for name, param in model.named_parameters():  # named_parameters yields a tied tensor once
        if name in names and id(param) not in seen:
            seen.add(id(param))
            total += param.numel()
    return total


def half_freeze(model, seed: int = 0, freeze_embeddings: bool = True) -> FreezePlan:
    """Freeze half of ``model``'s weight matrices by the module's rule (see the module docstring).

    Everything is made trainable first, so calling it again with a new ``seed`` starts a new
    round with a fresh half. Returns a :class:`FreezePlan` with the names and counts.
    """
    rng = random.Random(seed)
    model.requires_grad_(True)
    for index, layer in enumerate(decoder_layers(model)):
        names = [f"self_attn.{name}" for name in rng.sample(ATTENTION, 2)]
        names += [f"mlp.{name}" for name in rng.sample(MLP, 1 + (index + seed) % 2)]
        for name in names:
            layer.get_submodule(name).requires_grad_(False)
    if freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    rule = (f"seed {seed}: per layer 2 of 4 attention and 1 or 2 (alternating) of 3 MLP matrices frozen"
            + ("; embedding frozen" if freeze_embeddings else ""))
    return FreezePlan(rule, frozen, trainable, _count(model, set(frozen)), _count(model, set(trainable)))
