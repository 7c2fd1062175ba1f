"""Parameter-efficient fine-tuning side by side (notebook 12, the PEFT zoo).

peft implements prompt tuning, prefix tuning, IA3, LoHa, LoKr, VeRA, LoRA and adapter merging;
the notebook uses it for all of those. What peft lacks, and this module adds:

* the **bottleneck adapter** (Houlsby et al. 2019): a small down-projection, a nonlinearity and an
  up-projection added, with a residual connection, after each decoder layer's MLP. The
  up-projection starts at zero, so the adapted model starts out exactly equal to the base model;
* a short training loop that every method shares (same batches, same steps, same loss), so the
  comparison differs only in *what* is trained;
* the task shape the zoo uses: a prompt whose answer is **one token** (``"...\\nDepartment:"`` ->
  ``" billing"``), scored by the arg-max over the whole vocabulary at the last prompt position.
  One token per example keeps training steps short enough to compare six methods on a CPU.

Prompt tuning prepends its virtual tokens to the *sequence*, so the logits come out longer than the
input; prefix tuning puts them in the attention cache instead. :func:`labkit.evaluate.answer_logits`
reads the right position in both cases.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from labkit.evaluate import answer_logits
from labkit.seeding import shifted
from labkit.train import fp32_master_weights
from labkit.tuning.freezing import decoder_layers


# --- the one-token task ---------------------------------------------------------------------------

@dataclass
class Task:
    """Prompts whose answer is one token: ``answers[i]`` (with its leading space) follows ``prompts[i]``."""

    name: str
    prompts: list[str]
    answers: list[str]

    def __post_init__(self) -> None:
        if len(self.prompts) != len(self.answers):
            raise ValueError(f"task {self.name!r}: {len(self.prompts)} prompts but {len(self.answers)} answers")

    def __len__(self) -> int:
        return len(self.prompts)


def answer_ids(tokenizer, answers: Sequence[str]) -> torch.Tensor:
    """The token id of each answer; an answer that is not exactly one token is an error (say which)."""
    ids = []
    for answer in answers:
        tokens = tokenizer(answer, add_special_tokens=False)["input_ids"]
        if len(tokens) != 1:
            raise ValueError(f"answer {answer!r} is {len(tokens)} tokens for this tokenizer; "
                             "the zoo's tasks need one-token answers (a leading space usually helps)")
        ids.append(tokens[0])
    return torch.tensor(ids)


@torch.no_grad()
def accuracy(model, tokenizer, task: Task, batch_size: int = 16) -> float:
    """Share of prompts whose arg-max next token is the answer (over the whole vocabulary, no choices given)."""
    model.eval()
    gold, correct = answer_ids(tokenizer, task.answers), 0
    for start in range(0, len(task), batch_size):
        logits = answer_logits(model, tokenizer, task.prompts[start:start + batch_size])
        correct += int((logits.argmax(-1).cpu() == gold[start:start + batch_size]).sum())
    return correct / max(len(task), 1)


# --- one training loop for every method -----------------------------------------------------------

@dataclass
class Run:
    """What :func:`train_steps` measured."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def batches(task: Task, batch_size: int, seed: int = 0) -> Iterator[tuple[list[str], list[str]]]:
    """Batches drawn by a seeded shuffle, epoch after epoch: every method sees the same ones."""
    order, rng = [], random.Random(shifted(seed))
    while True:
        if len(order) < batch_size:
            fresh = list(range(len(task)))
            rng.shuffle(fresh)
            order += fresh
        chosen, order = order[:batch_size], order[batch_size:]
        yield [task.prompts[i] for i in chosen], [task.answers[i] for i in chosen]


def train_steps(model, tokenizer, task: Task, steps: int, learning_rate: float, batch_size: int = 8,
                seed: int = 0) -> Run:
    """Train ``model``'s trainable parameters for ``steps`` AdamW steps on ``task``; loss on the answer token.

    Whatever the method, only parameters with ``requires_grad`` change: peft freezes the base
    model, :func:`add_bottleneck_adapters` does the same.
    """
    fp32_master_weights(model)  # on a half-precision base the trained weights stay fp32
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: wrap it with peft or add adapters first")
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=0.0)
    run, start = Run(), time.perf_counter()
    model.train()
    for _, (prompts, answers) in zip(range(steps), batches(task, batch_size, seed)):
        logits = answer_logits(model, tokenizer, prompts)
        loss = F.cross_entropy(logits, answer_ids(tokenizer, answers).to(logits.device))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        run.losses.append(loss.item())
    model.eval()
    run.seconds = time.perf_counter() - start
    return run


def training_state_mib(trainable_parameters: int) -> float:
    """Memory for what training adds per trainable parameter in fp32: the gradient and AdamW's two moments.

    Frozen weights need none of it; this is what PEFT saves (activations are another matter).
    """
    return trainable_parameters * 4 * 3 / 2**20


# --- prefix tuning's starting point ---------------------------------------------------------------

def prefix_tokens(tokenizer, text: str) -> int:
    """How many virtual tokens a prefix initialised from ``text`` has: one per token of the text."""
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@torch.no_grad()
def init_prefix_from_text(model, tokenizer, text: str) -> None:
    """Start a peft prefix-tuning adapter from the keys and values the frozen model computes for ``text``.

    Random prefixes put noise into every attention layer and learn little in a short budget; Li and
    Liang (2021) start from the activations of real words instead. The adapted model then behaves
    exactly as if ``text`` stood before every input, and training moves on from there. The prefix
    must have :func:`prefix_tokens` virtual tokens and no projection (``prefix_projection=False``).
    """
    config = model.active_peft_config
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    if config.peft_type != "PREFIX_TUNING" or config.prefix_projection:
        raise ValueError("init_prefix_from_text needs a peft PrefixTuningConfig without prefix_projection")
    if ids.shape[1] != config.num_virtual_tokens:
        raise ValueError(f"{text!r} is {ids.shape[1]} tokens; make num_virtual_tokens={ids.shape[1]} "
                         "(adapters.prefix_tokens gives it)")
    embedding = model.prompt_encoder[model.active_adapter].embedding.weight
    cache = model.get_base_model()(input_ids=ids.to(embedding.device), use_cache=True).past_key_values
    # peft reads each row as (layers x [key, value], kv heads, head dim): lay the cache out the same way
    keys_values = torch.stack([torch.stack([layer.keys[0], layer.values[0]]) for layer in cache.layers])
    embedding.copy_(keys_values.permute(3, 0, 1, 2, 4).reshape(ids.shape[1], -1))


# --- the bottleneck adapter -----------------------------------------------------------------------

class BottleneckAdapter(nn.Module):
    """``x + up(act(down(x)))``: a residual bottleneck. ``up`` starts at zero, so at first it changes nothing."""

    def __init__(self, hidden_size: int, bottleneck: int):
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck)
        self.act = nn.GELU()
        self.up = nn.Linear(bottleneck, hidden_size)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x)))


class AdaptedMLP(nn.Module):
    """A decoder layer's MLP followed by its bottleneck adapter; ``.base`` is the original MLP, untouched."""

    def __init__(self, base: nn.Module, adapter: BottleneckAdapter):
        super().__init__()
        self.base, self.adapter = base, adapter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)  # the adapter's weights stay fp32 on a half-precision base: compute it in fp32
        return self.adapter(y.to(self.adapter.up.weight.dtype)).to(y.dtype)


def add_bottleneck_adapters(model, bottleneck: int = 16) -> list[BottleneckAdapter]:
    """Freeze ``model`` and put a trainable bottleneck adapter after every decoder layer's MLP, in place.

    Houlsby et al. (2019) put one after the attention block as well; Pfeiffer et al. (2020) found
    the one after the MLP enough. Returns the adapters (their parameters are the trainable ones).
    """
    model.requires_grad_(False)
    hidden = model.config.hidden_size
    reference = next(model.parameters())
    adapters = []
    for layer in decoder_layers(model):
        if isinstance(layer.mlp, AdaptedMLP):
            raise ValueError("this model already has bottleneck adapters; remove_bottleneck_adapters() first")
        adapter = BottleneckAdapter(hidden, bottleneck).to(reference.device)  # fp32 even on a half-precision base
        layer.mlp = AdaptedMLP(layer.mlp, adapter)
        adapters.append(adapter)
    return adapters


def remove_bottleneck_adapters(model) -> None:
    """Take the adapters out again, in place: the model is the base model it was before."""
    for layer in decoder_layers(model):
        if isinstance(layer.mlp, AdaptedMLP):
            layer.mlp = layer.mlp.base
