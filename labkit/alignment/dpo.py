"""Direct preference optimisation with TRL's ``DPOTrainer`` and the profile's fast defaults.

Like :mod:`labkit.train`, labkit only builds the config (``dpo_config``) and runs the trainer
(``train_dpo``); notebooks show the config and override fields by keyword. What labkit changes
from TRL's defaults, and why (``python -m labkit.perf.bench --methods dpo`` measures the effect):

* **reference log-probs computed once** (``precompute_ref_log_probs``): DPO compares the policy
  with a frozen reference, and a frozen model's log-probs on a fixed data set never change, so
  one pass before training replaces a reference forward on every step;
* **no model copy for the reference**: with LoRA, the reference is the base model with the
  adapter switched off (TRL does this when it gets ``peft_config``), so memory holds one model;
* **no gradient checkpointing**: TRL turns it on by default to save memory on big models; on a
  small model it only recomputes the forward pass and costs time;
* **the profile's precision**, with bf16 autocast on a CPU that multiplies bf16 natively
  (``labkit.train.cpu_has_bf16``), fp32 on other CPUs, bf16 or fp16 on GPU;
* **the LM head only where there is a label** (``labkit.train.score_labelled_tokens_only``): the
  prompt and padding tokens skip the 49k-row vocabulary projection on the CPU too;
* a log line every step, resumable runs and a live loss plot, as ``train_sft`` has.

The data set is TRL's preference format: ``prompt``/``chosen``/``rejected`` columns, as plain
text or as chat messages (``labkit.alignment.preferences.conversational``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.profiles import Profile
from labkit.train import TrainResult, lora_config, run_settings, run_trainer, score_labelled_tokens_only

# DPO moves a model that already writes well; it wants a gentler step than SFT on the same profile.
DPO_LR_FACTOR = 0.25


def dpo_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``DPOConfig`` from the profile. Any DPOConfig field can be overridden by keyword."""
    from trl import DPOConfig

    settings = dict(
        run_settings(profile, output_dir, overrides.get("max_steps", profile.max_steps)),
        learning_rate=profile.learning_rate * DPO_LR_FACTOR,  # batch: pairs, so twice as many sequences
        max_length=profile.max_length,
        beta=0.1,  # how far the policy may move from the reference (TRL's default)
        precompute_ref_log_probs=True,  # the frozen reference is scored once, not on every step
    )
    return DPOConfig(**{**settings, **overrides})


def train_dpo(model, tokenizer, dataset, profile: Profile, output_dir: str | Path, peft_config: Any = None,
              resume: bool = True, live_plot: bool | None = None, callbacks: list | None = None,
              **config_overrides: Any) -> tuple[Any, TrainResult]:
    """Align ``model`` to the preference pairs in ``dataset`` with DPO and the profile's defaults.

    ``peft_config`` is a ``LoraConfig`` (``labkit.train.lora_config(profile)``) or None for a full
    fine-tune. With LoRA the reference is the model with its adapter disabled; for a full
    fine-tune it is the model as passed in, scored once before the first step. Returns the trained
    model (in eval mode) and a :class:`~labkit.train.TrainResult`; ``result.log_history`` holds
    TRL's DPO metrics (``rewards/accuracies``, ``rewards/margins``, ...) for every step.
    """
    from trl import DPOTrainer

    score_labelled_tokens_only()
    config = dpo_config(profile, output_dir, **config_overrides)
    return run_trainer(DPOTrainer, config, model, tokenizer, dataset, peft_config, resume, live_plot, callbacks)


__all__ = ["dpo_config", "train_dpo", "lora_config", "TrainResult"]
