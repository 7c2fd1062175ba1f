"""Measurements every notebook takes before and after a technique.

Perplexity, answer matching, accuracy and generation. Generation is greedy unless a temperature
is given, and sampling is seeded, so that checked outputs are reproducible.
"""

from __future__ import annotations

import contextlib
import math
import re
import string
from typing import Sequence

import torch

from labkit.data import chat_prompt
from labkit.profiles import gpu_dtype
from labkit.seeding import shifted
from labkit.train import cpu_has_bf16


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], max_length: int = 256, batch_size: int = 8) -> float:
    """Token-weighted perplexity of ``texts`` (each truncated to ``max_length`` tokens).

    Summing the negative log-likelihood over all predicted tokens and dividing once gives the
    same number however the texts are batched. Texts are padded on the right whatever the
    tokenizer's setting, so every real token keeps the position it has alone (left padding would
    shift the positions of the shorter texts and change their scores).
    """
    model.eval()
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(list(texts[start:start + batch_size]), return_tensors="pt", padding=True,
                              truncation=True, max_length=max_length).to(device)
            logits = model(**batch).logits[:, :-1].float()
            targets = batch["input_ids"][:, 1:]
            mask = batch["attention_mask"][:, 1:].bool()
            nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
            total_nll += nll[mask].sum().item()
            total_tokens += int(mask.sum())
    finally:
        tokenizer.padding_side = side
    return math.exp(total_nll / max(total_tokens, 1))


@torch.no_grad()
def completion_perplexity(model, tokenizer, prompts: Sequence[str], completions: Sequence[str],
                          max_length: int = 256) -> float:
    """Perplexity of each completion given its prompt; the prompt is context and is not scored.

    The held-out twin of completion-only training loss: how likely the model finds the right
    answer, not the question. Pass full prompt texts (e.g. from ``data.chat_prompt``).
    """
    model.eval()
    device = next(model.parameters()).device
    total_nll, total_tokens = 0.0, 0
    for prompt, completion in zip(prompts, completions, strict=True):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        answer_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([(prompt_ids + answer_ids)[-max_length:]], device=device)
        scored = min(len(answer_ids), ids.shape[1] - 1)
        logits = model(input_ids=ids).logits[0, -scored - 1:-1].float()
        total_nll += torch.nn.functional.cross_entropy(logits, ids[0, -scored:], reduction="sum").item()
        total_tokens += scored
    return math.exp(total_nll / max(total_tokens, 1))


def chat_token_counts(tokenizer, row: dict) -> tuple[int, int]:
    """(prompt tokens, completion tokens) of one conversational ``{"prompt": [...], "completion": [...]}`` row.

    The prompt is counted with its generation prompt (the assistant header), so the completion's
    tokens are exactly what completion-only training puts in the loss.
    """
    prompt = tokenizer.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
    n_prompt, n_whole = len(tokenizer(prompt).input_ids), len(tokenizer(whole).input_ids)
    return n_prompt, n_whole - n_prompt


@torch.no_grad()
def loss_by_part(model, tokenizer, rows: Sequence[dict]) -> dict[str, float]:
    """Token-weighted cross-entropy on the prompt tokens and on the reply tokens of conversational rows.

    Completion-only training should lower the reply's loss and leave the prompt's (notebook 05);
    training on the prompt too also fits the questions, which tells nothing about the answers.
    """
    model.eval()
    device = next(model.parameters()).device
    total, count = {"prompt": 0.0, "reply": 0.0}, {"prompt": 0, "reply": 0}
    for row in rows:
        n_prompt, _ = chat_token_counts(tokenizer, row)
        text = tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        ids = tokenizer(text, return_tensors="pt").input_ids.to(device)
        nll = torch.nn.functional.cross_entropy(model(input_ids=ids).logits[0, :-1].float(), ids[0, 1:], reduction="none")
        for part, losses in (("prompt", nll[: n_prompt - 1]), ("reply", nll[n_prompt - 1:])):
            total[part] += losses.sum().item()
            count[part] += len(losses)
    return {part: total[part] / max(count[part], 1) for part in total}


def virtual_tokens_in_sequence(model) -> int:
    """How many positions a peft prompt-tuning model prepends to the sequence (0 for every other method).

    Prefix tuning also adds virtual tokens, but as cached keys and values: the logits keep the
    input's length. Prompt tuning (and p-tuning) feed them as embeddings, so they come out in the logits.
    """
    config = getattr(model, "active_peft_config", None)
    if config is None or not config.is_prompt_learning or config.peft_type == "PREFIX_TUNING":
        return 0
    return config.num_virtual_tokens


def autocast(device: torch.device):
    """Mixed precision for the forward pass: bf16 matmuls on a CPU that has them (as ``labkit.train``
    does for every run), bf16 or fp16 on a GPU; weights and optimizer state stay as they are."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=getattr(torch, gpu_dtype(torch.cuda.get_device_capability(device))))
    if device.type == "cpu" and cpu_has_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def answer_logits(model, tokenizer, prompts: Sequence[str], mixed_precision: bool = True,
                  **forward_kwargs) -> torch.Tensor:
    """Logits over the vocabulary at each prompt's last token: the predicted answer, shape (n, vocab).

    Prompts are padded on the right, so every real token keeps the position it has alone and the
    result does not depend on what else is in the batch. Only the needed positions go through the
    LM head (``logits_to_keep``): it is a fifth of a small model's compute. ``mixed_precision``
    uses :func:`autocast`; bf16 rounding then depends a little on the batch's shape, so pass False
    to compare two ways of computing the same logits. ``forward_kwargs`` go to the model, e.g.
    peft's ``adapter_names`` (one adapter per prompt).
    """
    device = next(model.parameters()).device
    side, tokenizer.padding_side = tokenizer.padding_side, "right"
    try:
        batch = tokenizer(list(prompts), return_tensors="pt", padding=True).to(device)
    finally:
        tokenizer.padding_side = side
    last = batch["attention_mask"].sum(1) - 1 + virtual_tokens_in_sequence(model)
    keep, row_of = torch.unique(last, return_inverse=True)
    with autocast(device) if mixed_precision else contextlib.nullcontext():
        logits = model(**batch, logits_to_keep=keep, use_cache=False, **forward_kwargs).logits
    return logits[torch.arange(len(prompts)), row_of].float()


@torch.no_grad()
def next_token_logits(model, tokenizer, prompts: Sequence[str], batch_size: int = 16) -> torch.Tensor:
    """Logits of the token that would follow each prompt, shape ``(len(prompts), vocab)``, in the
    model's own precision.

    Pass full prompt texts (e.g. from ``data.chat_prompt``). The LM head is applied at the last
    position only: a one-token answer (a label, the first word of a fact) is scored for a fraction of
    what full-sequence logits would cost. Batches of :func:`answer_logits`, which also
    serves training and prompt-learning models.
    """
    model.eval()
    return torch.cat([answer_logits(model, tokenizer, prompts[start:start + batch_size], mixed_precision=False)
                      for start in range(0, len(prompts), batch_size)])


@torch.no_grad()
def generate(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 32, system: str | None = None,
             batch_size: int = 8, chat: bool = True, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Replies to ``prompts`` (wrapped in the chat template unless ``chat=False``): greedy, or sampled
    from the whole distribution at ``temperature`` > 0.

    Sampling seeds each batch with ``seed + batch index``, so the replies are the same on a re-run
    and do not depend on what ran before (e.g. several sampled agents in notebook 15).
    """
    model.eval()
    device = next(model.parameters()).device
    texts = [chat_prompt(tokenizer, p, system) if chat else p for p in prompts]
    options = (dict(do_sample=True, temperature=temperature, top_p=1.0, top_k=0) if temperature > 0
               else dict(do_sample=False))
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation continues on the right
    replies = []
    try:
        for n, start in enumerate(range(0, len(texts), batch_size)):
            if temperature > 0:
                torch.manual_seed(shifted(seed) + n)
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)
            out = model.generate(**batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id,
                                 **options)
            new = out[:, batch["input_ids"].shape[1]:]
            replies += [r.strip() for r in tokenizer.batch_decode(new, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = side
    return replies


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, articles and extra spaces (the SQuAD convention)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> bool:
    """The whole prediction equals the gold answer after normalisation."""
    return normalize_answer(prediction) == normalize_answer(gold)


def answer_in(prediction: str, gold: str) -> bool:
    """The gold answer appears, as whole words, in the prediction after normalisation.

    Chat models answer in sentences ("The capital is Tarsk."), so this is the fair exact-match
    for free-form replies: the exact answer string must be there.
    """
    gold_n = normalize_answer(gold)
    return bool(gold_n) and f" {gold_n} " in f" {normalize_answer(prediction)} "


def match_rate(predictions: Sequence[str], golds: Sequence[str], strict: bool = False) -> float:
    """Share of predictions that match their gold answer (``strict``: whole-string exact match)."""
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} gold answers")
    check = exact_match if strict else answer_in
    return sum(check(p, g) for p, g in zip(predictions, golds)) / max(len(golds), 1)


def accuracy(predictions: Sequence, labels: Sequence) -> float:
    """Share of predictions equal to their label."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    return sum(p == y for p, y in zip(predictions, labels)) / max(len(labels), 1)
