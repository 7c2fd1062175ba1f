"""Multiple-choice scoring by log-likelihood, as lm-evaluation-harness does (`acc` and `acc_norm`)."""
from __future__ import annotations

from typing import Sequence

import torch

from labkit.errors import DataError


def option_logprobs(model, tokenizer, prompt: str, options: Sequence[str]) -> list[float]:
    """Summed log-probability of each option's tokens given the prompt (the prompt itself is not scored).

    All options go through the model in one right-padded batch: padding after the text changes no
    logit before it, and only the option positions reach the (vocabulary-sized) log-softmax."""
    if not options:
        raise DataError("no options to score", "option_logprobs", "pass at least one option")
    n_prompt = len(tokenizer(prompt)["input_ids"])
    rows = [tokenizer(prompt + option)["input_ids"] for option in options]
    width = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], device=model.device)
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], device=model.device)
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask).logits
    scores = []
    for i, r in enumerate(rows):
        logits = hidden[i, n_prompt - 1:len(r) - 1].float()
        targets = ids[i, n_prompt:len(r)]
        scores.append(float(torch.log_softmax(logits, dim=-1).gather(1, targets[:, None]).sum()))
    return scores


def single_token_logprobs(model, tokenizer, prompts: Sequence[str], options: Sequence[Sequence[str]],
                          batch_size: int = 64) -> list[list[float]]:
    """Log-probability of each option as the next token after its prompt, for many questions at once.

    When every option is one token that continues the prompt (a digit after ``"Answer: "``), one
    forward of the prompt scores all of them: several times cheaper than :func:`option_logprobs`,
    which runs prompt and option together once per option. An option that is not a single token
    after its prompt raises, since scoring only its first token would silently change the question.
    """
    from labkit import evaluate

    if len(prompts) != len(options):
        raise DataError(f"{len(prompts)} prompts but {len(options)} option lists", "single_token_logprobs",
                        "pass one list of options per prompt")
    ids = []
    for prompt, row in zip(prompts, options):
        prompt_ids = tokenizer(prompt)["input_ids"]
        n = len(prompt_ids)
        row_ids = []
        for option in row:
            full = tokenizer(prompt + option)["input_ids"]
            if len(full) != n + 1 or full[:n] != prompt_ids:
                raise DataError(f"option {option!r} after {prompt[-30:]!r} is {len(full) - n} tokens, not one",
                                "single_token_logprobs", "use option_logprobs for multi-token options")
            row_ids.append(full[-1])
        ids.append(row_ids)
    logp = torch.log_softmax(evaluate.next_token_logits(model, tokenizer, list(prompts), batch_size).float(), dim=-1)
    return [[float(logp[i, t]) for t in row] for i, row in enumerate(ids)]


def pick(logprobs: Sequence[float], options: Sequence[str], normalise: str = "none") -> int:
    """Index of the best option: raw sum (`none`) or divided by the option's characters (`char`,
    the harness's acc_norm), which stops short options winning just for having fewer tokens."""
    if len(logprobs) != len(options) or not options:
        raise DataError(f"{len(logprobs)} scores for {len(options)} options", "pick",
                        "score every option once")
    if normalise == "none":
        scores = list(logprobs)
    elif normalise == "char":
        scores = [lp / max(len(o), 1) for lp, o in zip(logprobs, options)]
    else:
        raise DataError(f"unknown normalise={normalise!r}", "pick", "use 'none' or 'char'")
    return max(range(len(scores)), key=scores.__getitem__)
