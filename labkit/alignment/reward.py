"""Reward models: learn a preference from (prompt, chosen, rejected) pairs with TRL's RewardTrainer.

A reward model is a sequence classifier with one output: the score of a whole reply. TRL trains
it with the pairwise (Bradley-Terry) loss ``-log sigmoid(r(chosen) - r(rejected))``, so only
*differences* of rewards mean anything. labkit adds the profile's defaults, the same resumable
run folders as :mod:`labkit.train`, and :func:`rewards`, which scores new replies formatted
exactly as TRL formatted the training pairs (a mismatch there silently ruins a reward model).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

import torch

from labkit import progress
from labkit.profiles import Profile
from labkit.seeding import shifted
from labkit.train import _fingerprint, _last_checkpoint, _precision, _result_from, _train, TrainResult, fp32_master_weights


def _chat(tokenizer) -> bool:
    return getattr(tokenizer, "chat_template", None) is not None


def _end(tokenizer) -> str:
    return tokenizer.eos_token or tokenizer.sep_token


def pair_dataset(records: Sequence[dict], tokenizer):
    """Preference records as a TRL dataset: chat messages if the tokenizer has a chat template,
    else plain text ``prompt\\nreply``."""
    from datasets import Dataset

    if _chat(tokenizer):
        rows = [{"prompt": [{"role": "user", "content": r["prompt"]}],
                 "chosen": [{"role": "assistant", "content": r["chosen"]}],
                 "rejected": [{"role": "assistant", "content": r["rejected"]}]} for r in records]
    else:
        rows = [{"prompt": r["prompt"] + "\n", "chosen": r["chosen"], "rejected": r["rejected"]} for r in records]
    return Dataset.from_list(rows)


def reward_input_ids(tokenizer, prompt: str, reply: str) -> list[int]:
    """Token ids of one (prompt, reply), built the way RewardTrainer builds its training pairs."""
    if _chat(tokenizer):
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
        return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    return tokenizer(prompt + "\n" + reply + _end(tokenizer))["input_ids"]


@torch.no_grad()
def rewards(model, tokenizer, prompts: Sequence[str], replies: Sequence[str], batch_size: int = 16) -> list[float]:
    """The reward model's score of each (prompt, reply)."""
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    for start in range(0, len(prompts), batch_size):
        ids = [reward_input_ids(tokenizer, p, r)
               for p, r in zip(prompts[start:start + batch_size], replies[start:start + batch_size])]
        batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt").to(device)
        scores += model(**batch).logits[:, 0].float().tolist()
    return scores


def pairwise_accuracy(chosen: Sequence[float], rejected: Sequence[float]) -> float:
    """Share of pairs where the chosen reply gets the higher reward (chance: 0.5)."""
    return sum(c > r for c, r in zip(chosen, rejected)) / max(len(chosen), 1)


def reward_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``RewardConfig`` from the profile; any field can be overridden by keyword."""
    from trl import RewardConfig

    max_steps = overrides.get("max_steps", profile.max_steps)
    settings = dict(
        output_dir=str(output_dir), max_steps=max_steps, learning_rate=1e-4,
        per_device_train_batch_size=profile.per_device_train_batch_size, max_length=profile.max_length,
        lr_scheduler_type="linear", warmup_steps=min(5, max_steps // 10), activation_checkpointing=False,
        logging_steps=1, save_strategy="steps", save_steps=max(10, max_steps // 3), save_total_limit=1,
        report_to="none", seed=shifted(42), **_precision(profile),
    )
    return RewardConfig(**{**settings, **overrides})


def train_reward(model, tokenizer, records: Sequence[dict], profile: Profile, output_dir: str | Path,
                 lora: Any = None, resume: bool = True, **config_overrides: Any) -> tuple[Any, TrainResult]:
    """Train a one-output sequence classifier on preference pairs with TRL's ``RewardTrainer``.

    ``lora``: a peft ``LoraConfig`` (task ``SEQ_CLS``) to train adapters and the score head only;
    ``None`` trains every parameter (right for a small encoder such as MiniLM).
    """
    from trl import RewardTrainer

    output_dir = Path(output_dir)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    config = reward_config(profile, output_dir, eos_token=_end(tokenizer), **config_overrides)
    dataset = pair_dataset(records, tokenizer)
    progress.quiet_datasets()
    resume_from = _last_checkpoint(output_dir, _fingerprint(config, lora, dataset)) if resume else None
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=lora)
    fp32_master_weights(trainer.model)  # fp16 (a T4) cannot unscale half-precision gradients; bf16 would round updates away
    start = time.perf_counter()
    output = _train(trainer, output_dir, resume_from)  # a full disk: a ResourceError, no half-written checkpoint
    result = _result_from(trainer, output, output_dir, time.perf_counter() - start, resume_from)
    return trainer.model.eval(), result
