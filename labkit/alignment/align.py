"""DPO's relatives (ORPO, KTO, GRPO) with the profile's defaults, and the yardsticks to compare them.

Notebook 19 runs four preference-tuning methods on the same pairs and compares them on one table.
The trainers are TRL's; labkit builds their configs the way :func:`labkit.alignment.dpo.dpo_config` builds
DPO's (profile sizes and precision, no gradient checkpointing, a log line per step, resumable run
folders) and hides where TRL keeps them (ORPO lives in ``trl.experimental`` and may move again).

* **ORPO** adds an odds-ratio penalty on the rejected reply to the ordinary SFT loss on the chosen
  one: no reference model at all.
* **KTO** needs only a thumbs-up or thumbs-down per reply (TRL unpairs the pairs itself) and
  compares with the reference through a batch-level KL estimate.
* **GRPO** samples several replies per prompt and pushes up those that score above their group's
  mean: PPO's idea without a value head, here with the programmatic (verifiable) reward.

The yardsticks: :func:`win_rate` of a tuned model's replies against the reference's by a scorer,
:func:`implicit_margins` (DPO's implicit reward margin on held-out pairs, measurable for every
method); peak memory comes from :class:`labkit.memory.PeakMemory`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from labkit.alignment.dpo import DPO_LR_FACTOR
from labkit.data import chat_prompt
from labkit.profiles import Profile
from labkit.train import TrainResult, run_settings, run_trainer

ScoreFn = Callable[[str, str], float]  # (prompt, reply) -> score, e.g. labkit.alignment.preferences.score


def _settings(profile: Profile, output_dir: str | Path, max_steps: int) -> dict:
    """What every preference trainer here shares with ``labkit.alignment.dpo``: ``labkit.train.run_settings``
    and DPO's gentler learning rate."""
    return dict(run_settings(profile, output_dir, max_steps), learning_rate=profile.learning_rate * DPO_LR_FACTOR)


def _orpo():
    """TRL's ORPO classes; it keeps them in ``trl.experimental``, which warns on every import."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from trl.experimental.orpo import ORPOConfig, ORPOTrainer
    return ORPOConfig, ORPOTrainer


def orpo_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``ORPOConfig`` (``beta`` is the paper's lambda, the weight of the odds-ratio term)."""
    ORPOConfig, _ = _orpo()

    settings = _settings(profile, output_dir, overrides.get("max_steps", profile.max_steps))
    return ORPOConfig(**{**settings, "max_length": profile.max_length, "beta": 0.1, **overrides})


def kto_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``KTOConfig``; reference log-probs are computed once, as for DPO."""
    from trl import KTOConfig

    settings = _settings(profile, output_dir, overrides.get("max_steps", profile.max_steps))
    return KTOConfig(**{**settings, "max_length": profile.max_length, "beta": 0.1,
                        "precompute_ref_log_probs": True, **overrides})


def grpo_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``GRPOConfig``: ``num_generations`` replies per prompt form a group; a batch holds
    ``per_device_train_batch_size`` replies, so batch / num_generations prompts per step."""
    from trl import GRPOConfig

    settings = _settings(profile, output_dir, overrides.get("max_steps", profile.max_steps))
    return GRPOConfig(**{**settings, "num_generations": 4, "max_completion_length": 16, "temperature": 0.7,
                         "beta": 0.04, **overrides})  # beta > 0: a KL term to the reference, as in the paper


def completion_reward(score: ScoreFn) -> Callable[..., list[float]]:
    """A ``(prompt, reply) -> float`` scorer as a GRPO reward function (TRL passes chat messages)."""
    def text(x: Any) -> str:
        return x[-1]["content"] if isinstance(x, list) else x

    def reward(prompts: list, completions: list, **_: Any) -> list[float]:
        return [float(score(text(p), text(c).strip())) for p, c in zip(prompts, completions)]

    reward.__name__ = getattr(score, "__name__", "score")  # TRL logs each reward under its function's name
    return reward


def train_orpo(model, tokenizer, dataset, profile: Profile, output_dir: str | Path, peft_config: Any = None,
               resume: bool = True, live_plot: bool | None = None, **overrides: Any) -> tuple[Any, TrainResult]:
    """ORPO on prompt/chosen/rejected pairs: SFT on the chosen reply plus the odds-ratio penalty."""
    _, ORPOTrainer = _orpo()

    config = orpo_config(profile, output_dir, **overrides)
    return run_trainer(ORPOTrainer, config, model, tokenizer, dataset, peft_config, resume, live_plot)


def train_kto(model, tokenizer, dataset, profile: Profile, output_dir: str | Path, peft_config: Any = None,
              resume: bool = True, live_plot: bool | None = None, **overrides: Any) -> tuple[Any, TrainResult]:
    """KTO on pairs (unpaired by TRL: chosen -> desirable, rejected -> undesirable) or on
    prompt/completion/label rows."""
    from trl import KTOTrainer

    config = kto_config(profile, output_dir, **overrides)
    return run_trainer(KTOTrainer, config, model, tokenizer, dataset, peft_config, resume, live_plot)


def train_grpo(model, tokenizer, dataset, score: ScoreFn, profile: Profile, output_dir: str | Path,
               peft_config: Any = None, resume: bool = True, live_plot: bool | None = None,
               **overrides: Any) -> tuple[Any, TrainResult]:
    """GRPO on a prompt-only data set, rewarded by ``score(prompt, reply)``."""
    from trl import GRPOTrainer

    config = grpo_config(profile, output_dir, **overrides)
    return run_trainer(GRPOTrainer, config, model, tokenizer, dataset, peft_config, resume, live_plot,
                  reward_funcs=completion_reward(score))


# --- yardsticks -----------------------------------------------------------------------------------

def win_rate(prompts: Sequence[str], replies: Sequence[str], reference_replies: Sequence[str],
             score: ScoreFn) -> float:
    """Share of prompts where ``score`` prefers the reply to the reference's; a tie counts half."""
    wins = 0.0
    for prompt, mine, theirs in zip(prompts, replies, reference_replies):
        a, b = score(prompt, mine), score(prompt, theirs)
        wins += 1.0 if a > b else 0.5 if a == b else 0.0
    return wins / max(len(prompts), 1)


@torch.no_grad()
def sequence_logprobs(model, tokenizer, prompts: Sequence[str], replies: Sequence[str],
                      batch_size: int = 16) -> torch.Tensor:
    """log p(reply + end token | chat prompt) summed over the reply's tokens, one value per pair."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(prompts), batch_size):
        heads = [tokenizer(chat_prompt(tokenizer, p), add_special_tokens=False)["input_ids"]
                 for p in prompts[start:start + batch_size]]
        tails = [tokenizer(r + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
                 for r in replies[start:start + batch_size]]
        width = max(len(h) + len(t) for h, t in zip(heads, tails))
        ids = torch.full((len(heads), width), tokenizer.pad_token_id)
        labels = torch.full((len(heads), width), -100)
        attention = torch.zeros((len(heads), width), dtype=torch.long)
        for i, (h, t) in enumerate(zip(heads, tails)):
            ids[i, :len(h) + len(t)] = torch.tensor(h + t)
            labels[i, len(h):len(h) + len(t)] = torch.tensor(t)
            attention[i, :len(h) + len(t)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device)).logits[:, :-1].float()
        targets = labels[:, 1:].to(device)
        picked = logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)
        out.append((picked * (targets != -100)).sum(-1).cpu())
    return torch.cat(out)


def log_ratios(model, tokenizer, pairs: Sequence[dict]) -> torch.Tensor:
    """log p(chosen) - log p(rejected) per pair under ``model``: how strongly it prefers the chosen reply."""
    prompts = [p["prompt"] for p in pairs]
    return (sequence_logprobs(model, tokenizer, prompts, [p["chosen"] for p in pairs])
            - sequence_logprobs(model, tokenizer, prompts, [p["rejected"] for p in pairs]))


def implicit_margins(model, tokenizer, pairs: Sequence[dict], beta: float = 0.1,
                     reference: torch.Tensor | None = None) -> list[float]:
    """DPO's implicit reward margin per pair, beta * (policy's log-ratio - reference's log-ratio).

    The reference is the model with its peft adapter switched off; pass its :func:`log_ratios`
    as ``reference`` to score it once for many tuned models. Positive: the tuning moved
    probability towards the chosen reply.
    """
    if reference is None:
        with model.disable_adapter():
            reference = log_ratios(model, tokenizer, pairs)
    return (beta * (log_ratios(model, tokenizer, pairs) - reference)).tolist()


