"""Multiple-choice scoring by log-likelihood, as lm-evaluation-harness does (`acc` and `acc_norm`)."""
from __future__ import annotations

from typing import Sequence

import torch

from labkit.errors import DataError


def option_logprobs(model, tokenizer, prompt: str, options: Sequence[str]) -> list[float]:
    """Summed log-probability of each option's tokens given the prompt (the prompt itself is not scored)."""
    n_prompt = len(tokenizer(prompt)["input_ids"])
    scores = []
    for option in options:
        ids = tokenizer(prompt + option, return_tensors="pt")["input_ids"].to(model.device)
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
        targets = ids[0, 1:]
        token_logp = logp.gather(1, targets[:, None])[:, 0]
        scores.append(float(token_logp[n_prompt - 1:].sum()))
    return scores


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
