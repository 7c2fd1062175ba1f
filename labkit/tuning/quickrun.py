"""Short, fast fine-tuning runs for comparing training set-ups (notebook 10).

Comparing optimisers, schedules and hyper-parameters needs many runs; on a CPU a full SmolLM2
step takes seconds. The trick used here is a real one: when only the **top layers** of a model
are trained, everything below them is frozen and gives the same output every epoch, so it is
computed once (:func:`cache_features`) and each step runs only the top layers and the LM head
(:func:`top_model`). LoRA then goes on the top layers with peft as usual.

The task is next-token classification: a prompt ends where the answer token should come
(e.g. ``"...\\nDepartment:"`` -> ``" billing"``), and the loss is the cross-entropy of that one
token over the whole vocabulary. Each example contributes one token, so a mean over a batch is
the same whatever the prompt lengths (see :func:`gradients` for why that matters).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from labkit.seeding import shifted


@dataclass
class Features:
    """Hidden states entering the top layers, left-padded to one length, with what the top needs."""

    hidden: torch.Tensor  # (n, length, hidden_size)
    attention_mask: torch.Tensor  # (n, length), 0 on left padding
    position_ids: torch.Tensor  # (n, length), counted from the first real token
    labels: torch.Tensor  # (n,) the answer token ids

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor) -> dict:
        """Rows ``index``, with columns that are padding in every chosen row cut off (less compute)."""
        mask = self.attention_mask[index]
        start = int((mask.sum(0) == 0).sum())  # left padding shared by all rows
        return dict(inputs_embeds=self.hidden[index, start:], attention_mask=mask[:, start:],
                    position_ids=self.position_ids[index, start:])


@torch.no_grad()
def cache_features(model, tokenizer, prompts: list[str], answers: list[str], n_top: int,
                   batch_size: int = 16) -> Features:
    """Run the frozen bottom of ``model`` once; keep the hidden states that enter its top ``n_top`` layers.

    ``answers`` must each be one token for the tokenizer (a leading space usually belongs to it).
    """
    labels = []
    for answer in answers:
        ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise ValueError(f"answer {answer!r} is {len(ids)} tokens; quickrun needs one-token answers")
        labels.append(ids[0])
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    encoded = tokenizer(prompts, padding=True, return_tensors="pt").to(model.device)
    tokenizer.padding_side = padding_side
    mask = encoded["attention_mask"]
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    layer = model.config.num_hidden_layers - n_top
    chunks = []
    for start in range(0, len(prompts), batch_size):
        rows = slice(start, start + batch_size)
        out = model.model(input_ids=encoded["input_ids"][rows], attention_mask=mask[rows],
                          position_ids=positions[rows], output_hidden_states=True, use_cache=False)
        chunks.append(out.hidden_states[layer])  # hidden_states[0] is the embeddings, [i] enters layer i
    return Features(torch.cat(chunks), mask, positions, torch.tensor(labels, device=model.device))


def top_model(model, n_top: int):
    """A model of the same class made of ``model``'s top ``n_top`` layers (copies), final norm and LM head.

    It takes ``inputs_embeds`` = the cached hidden states. The copies are independent of ``model``,
    so adapters put on the top model leave the original untouched; the LM head is shared (frozen).
    """
    config = copy.deepcopy(model.config)
    config.num_hidden_layers = n_top
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[-n_top:]
    with torch.device("meta"):
        top = type(model)(config)
    top.model.layers = copy.deepcopy(model.model.layers[-n_top:])
    for i, layer in enumerate(top.model.layers):
        layer.self_attn.layer_idx = i
    top.model.norm = copy.deepcopy(model.model.norm)
    top.model.rotary_emb = copy.deepcopy(model.model.rotary_emb)
    top.model.embed_tokens = model.model.embed_tokens
    top.lm_head = model.lm_head
    top.requires_grad_(False)
    return top.eval()


def answer_logits(top, features: Features, index: torch.Tensor) -> torch.Tensor:
    """Logits over the vocabulary at the last prompt position: the predicted answer token.

    The LM head is applied to that one position as a 2-D product (a 3-D one is several times slower on CPU).
    """
    model = top.get_base_model() if hasattr(top, "get_base_model") else top  # under a peft wrapper
    hidden = model.model(**features.batch(index), use_cache=False).last_hidden_state[:, -1]
    return model.lm_head(hidden)


def loss_on(top, features: Features, index: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy of the answer token over rows ``index`` (all rows if None)."""
    index = torch.arange(len(features)) if index is None else index
    return F.cross_entropy(answer_logits(top, features, index), features.labels[index])


@torch.no_grad()
def evaluate(top, features: Features, batch_size: int = 64) -> dict[str, float]:
    """Held-out loss and accuracy (is the answer the arg-max over the whole vocabulary?)."""
    losses, correct = [], 0
    for start in range(0, len(features), batch_size):
        index = torch.arange(start, min(start + batch_size, len(features)))
        logits = answer_logits(top, features, index)
        losses.append(F.cross_entropy(logits, features.labels[index], reduction="sum").item())
        correct += int((logits.argmax(-1) == features.labels[index]).sum())
    return {"loss": sum(losses) / len(features), "accuracy": correct / len(features)}


@dataclass
class Curve:
    """What one run logged: per step the training-batch loss and learning rate; held-out loss every few steps."""

    name: str
    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)

    @property
    def final_val_loss(self) -> float:
        return self.val_loss[-1]

    def smoothed_train_loss(self, last: int = 5) -> float:
        """Mean training loss over the last ``last`` steps (one batch is noisy)."""
        return sum(self.train_loss[-last:]) / len(self.train_loss[-last:])


OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def train_run(top, train: Features, val: Features | None, steps: int, learning_rate: float,
              optimizer: str = "adamw", scheduler: str = "constant", warmup_steps: int = 0,
              batch_size: int = 8, weight_decay: float = 0.0, eval_every: int = 5, seed: int = 0,
              name: str = "") -> Curve:
    """Train the trainable parameters of ``top`` for ``steps`` optimiser steps; log the curves.

    The optimiser is torch's (``sgd``, ``adam``, ``adamw``), the schedule is transformers'
    ``get_scheduler`` by name (``constant``, ``linear``, ``cosine``, ...). Batches are drawn by a
    seeded shuffle, epoch after epoch, so runs with the same seed see the same batches.
    """
    from transformers import get_scheduler

    params = [p for p in top.parameters() if p.requires_grad]
    options = {"weight_decay": weight_decay} if optimizer != "adam" or weight_decay else {}
    opt = OPTIMIZERS[optimizer](params, lr=learning_rate, **options)
    schedule = get_scheduler(scheduler, opt, num_warmup_steps=warmup_steps, num_training_steps=steps)
    generator, order = torch.Generator().manual_seed(shifted(seed)), torch.empty(0, dtype=torch.long)
    curve = Curve(name or f"{optimizer} {scheduler} lr={learning_rate:g}")
    for step in range(1, steps + 1):
        if len(order) < batch_size:
            order = torch.cat([order, torch.randperm(len(train), generator=generator)])  # a new epoch
        index, order = order[:batch_size], order[batch_size:]
        top.train()
        loss = loss_on(top, train, index)
        loss.backward()
        curve.lr.append(schedule.get_last_lr()[0])
        opt.step(), schedule.step(), opt.zero_grad()
        curve.steps.append(step)
        curve.train_loss.append(loss.item() if math.isfinite(loss.item()) else float("inf"))
        if val is not None and (step % eval_every == 0 or step == steps):
            top.eval()
            scores = evaluate(top, val)
            curve.val_steps.append(step), curve.val_loss.append(scores["loss"]), curve.val_accuracy.append(scores["accuracy"])
    top.eval()
    return curve


def gradients(top, features: Features, index: torch.Tensor, micro_batches: int = 1) -> list[torch.Tensor]:
    """Gradients of the mean batch loss, computed in one pass or accumulated over ``micro_batches``.

    Gradient accumulation divides each micro-batch loss by the number of micro-batches, so the sum
    of their gradients is the gradient of the mean over the whole batch. That is exact when every
    example weighs the same in the mean (here: one answer token each); with token-averaged losses
    over unequal lengths, micro-batch means weigh tokens differently.
    """
    params = [p for p in top.parameters() if p.requires_grad]
    for p in params:
        p.grad = None
    for part in index.chunk(micro_batches):
        (loss_on(top, features, part) / micro_batches).backward()
    grads = [p.grad.clone() for p in params]
    for p in params:
        p.grad = None
    return grads


def lora_run(top, lora_config, train: Features, val: Features | None, seed: int = 0, **run_args) -> Curve:
    """Put a fresh LoRA (peft) on ``top``, train it with :func:`train_run`, and take it off again.

    ``top`` is unchanged afterwards, so every run of a comparison starts from the same weights;
    the LoRA initialisation is seeded with ``seed`` as well as the batch order.
    """
    from peft import get_peft_model

    torch.manual_seed(shifted(seed))
    model = get_peft_model(top, lora_config)
    try:
        return train_run(model, train, val, seed=seed, **run_args)
    finally:
        model.unload()  # removes the LoRA layers and restores the original modules in place
