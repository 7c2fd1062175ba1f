"""A thin layer over TRL's ``SFTTrainer`` and transformers' ``Trainer`` with the profile's defaults.

labkit builds the TRL/peft config objects from the profile (``sft_config``, ``lora_config``);
notebooks show them and override fields by keyword. What labkit adds:

* defaults that suit small models on a CPU, each measured by ``labkit bench`` against plain TRL
  (``docs/performance.md``): no gradient checkpointing (it only costs time at this size); batches
  of like lengths (``group_by_length``) so little compute goes on padding, rather than packing,
  whose one long padding-free row costs quadratic attention on a CPU without varlen kernels;
  the LM head only on tokens that have a label (:func:`score_labelled_tokens_only`); bf16
  autocast on CPUs with bf16 matmuls (:func:`cpu_has_bf16`); loss on completions only; a log
  line every step;
* resumable runs: the run folder remembers a fingerprint of its settings, and a re-run with the
  same settings resumes from the last checkpoint instead of starting again; a checkpoint cut off
  while saving (a full disk, an interruption) is removed and the one before it used, and a damaged
  one is named rather than loaded;
* a live loss plot in notebooks, and a :class:`TrainResult` with the measured numbers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback

from labkit import atomic, progress
from labkit.errors import ResourceError, disk_errors
from labkit.profiles import Profile
from labkit.seeding import shifted

FINGERPRINT = "labkit-run.json"
TRAINER_STATE = "trainer_state.json"  # the Trainer writes it last: a checkpoint without it is unfinished


@dataclass
class TrainResult:
    """What a training run measured."""

    output_dir: Path
    steps: int
    train_loss: float  # mean training loss over the run (TRL's train_loss)
    final_loss: float  # the last logged loss
    runtime_s: float  # wall time of this call, including a resumed run's skipped work
    trainable_parameters: int
    resumed_from: str | None = None
    log_history: list[dict] = field(default_factory=list, repr=False)

    @property
    def losses(self) -> list[tuple[int, float]]:
        """``(step, loss)`` for every logged training step."""
        return [(row["step"], row["loss"]) for row in self.log_history if "loss" in row]


def lora_config(profile: Profile, **overrides: Any):
    """peft ``LoraConfig`` with the profile's rank on all linear layers of a causal LM."""
    from peft import LoraConfig

    settings = dict(r=profile.lora_r, lora_alpha=profile.lora_alpha, lora_dropout=0.0,
                    target_modules="all-linear", task_type="CAUSAL_LM")
    return LoraConfig(**{**settings, **overrides})


def _precision(profile: Profile) -> dict:
    return {"bf16": profile.dtype == "bfloat16", "fp16": profile.dtype == "float16",
            "use_cpu": profile.device == "cpu"}


def fp32_master_weights(model) -> None:
    """Upcast the parameters that will train to fp32, in place; frozen ones keep their dtype.

    Mixed precision (the gpu profile's fp16 or bf16) computes in half precision but must keep the
    weights it updates in fp32: the Trainer refuses to unscale fp16 gradients, and bf16 weights
    lose small updates to rounding. Every labkit trainer calls this once the trainer has applied
    peft (the optimizer is built later, in ``train()``), so a full fine-tune, LoRA adapters and a
    classifier's saved score head all train fp32 copies while the frozen base stays in half precision.
    """
    for param in model.parameters():
        if param.requires_grad and param.dtype in (torch.float16, torch.bfloat16):
            param.data = param.data.float()


def cpu_has_bf16() -> bool:
    """True when this CPU multiplies bf16 matrices natively (AVX512-BF16 or AMX), as recent x86 CPUs do.

    There bf16 matmuls run several times faster than fp32 ones (``labkit bench`` measures both).
    ``LABKIT_CPU_BF16=0`` answers False anyway: the fp32 path of a CPU without bf16 (Apple silicon,
    older x86), for checking that an effect does not depend on the precision.
    """
    if os.environ.get("LABKIT_CPU_BF16", "1") == "0":
        return False
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False  # not Linux, or no flags line: stay in fp32
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _training_precision(profile: Profile) -> dict:
    """Mixed precision for training: the profile's, plus bf16 autocast on a CPU that has bf16 matmuls.

    Weights, optimizer state and the loss stay fp32 (autocast runs only the matmuls in bf16), so
    the model loses nothing measurable; on such a CPU a training step takes about half the time.
    """
    settings = _precision(profile)
    if profile.device == "cpu" and profile.dtype == "float32" and cpu_has_bf16():
        settings["bf16"] = True
    return settings


def run_settings(profile: Profile, output_dir: str | Path, max_steps: int) -> dict:
    """The trainer settings every labkit run shares (SFT, DPO and its relatives): the profile's batch
    size and precision, a short warm-up, no gradient checkpointing (it costs time and saves little at
    this size), a log line every step, and checkpoints a re-run can resume from."""
    return dict(
        output_dir=str(output_dir),
        max_steps=max_steps,
        per_device_train_batch_size=profile.per_device_train_batch_size,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=min(5, max_steps // 10),
        activation_checkpointing=False,  # transformers 5 name of gradient checkpointing
        logging_steps=1,
        save_strategy="steps",
        save_steps=max(10, max_steps // 3),
        save_total_limit=1,
        report_to="none",
        seed=shifted(42),
        dataloader_num_workers=0,
        **_training_precision(profile),
    )


def sft_config(profile: Profile, output_dir: str | Path, **overrides: Any):
    """TRL ``SFTConfig`` from the profile. Any SFTConfig field can be overridden by keyword."""
    from trl import SFTConfig

    settings = dict(
        run_settings(profile, output_dir, overrides.get("max_steps", profile.max_steps)),
        learning_rate=profile.learning_rate,
        max_length=profile.max_length,
        packing=False,  # packed rows become one long sequence; on CPU its attention costs more than padding does
        train_sampling_strategy="group_by_length",  # batches of like lengths: little padding to compute
        completion_only_loss=True,  # for prompt/completion data: loss on the answer only
    )
    return SFTConfig(**{**settings, **overrides})


def score_labelled_tokens_only() -> None:
    """Make TRL's fused LM head skip positions without a label (prompt, padding) on the CPU too.

    TRL computes the loss through a fused head that projects hidden states onto the 49k-token
    vocabulary in tiles. On CUDA it projects only the positions that have a label; elsewhere it
    projects every position so that compiled tile shapes stay fixed (for Neuron devices). A CPU
    compiles nothing, so the fixed shapes buy nothing there, while the head is about a fifth of a
    small model's FLOPs. With this, the head costs nothing on prompt and padding tokens.
    Idempotent; changes only that decision (the kernels still choose Triton by their own test).
    """
    from trl.trainer import utils

    if not hasattr(utils, "_use_triton"):  # a TRL that moved this private decision: keep its behaviour
        return
    if not getattr(utils._use_triton, "labkit", False):
        on_gpu = utils._use_triton

        def compact(device) -> bool:
            return device.type == "cpu" or on_gpu(device)

        compact.labkit = True
        utils._use_triton = compact


def _fingerprint(config, peft_config, dataset) -> str:
    settings = {k: v for k, v in config.to_dict().items() if k not in {"output_dir", "logging_dir", "disable_tqdm"}}
    text = json.dumps(
        [settings, repr(peft_config), getattr(dataset, "_fingerprint", None) or repr(dataset[:3])],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _remove_unfinished(output_dir: Path) -> None:
    """Delete checkpoints cut off while saving: resuming from one would fail, or silently lose state."""
    for checkpoint in output_dir.glob("checkpoint-*"):
        if checkpoint.is_dir() and not (checkpoint / TRAINER_STATE).exists():
            print(f"Removing {checkpoint.name}: it was cut off while saving.")
            shutil.rmtree(checkpoint, ignore_errors=True)


def _damage(checkpoint: Path) -> str | None:
    """What makes a finished checkpoint unreadable, or None; cheap: only headers are read."""
    from safetensors import SafetensorError, safe_open

    try:
        json.loads((checkpoint / TRAINER_STATE).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return f"{TRAINER_STATE} is not valid JSON"
    for weights in sorted(checkpoint.glob("*.safetensors")):
        try:
            with safe_open(str(weights), framework="pt"):
                pass
        except (SafetensorError, OSError) as error:
            return f"{weights.name} cannot be read ({error})"
    return None


def _last_checkpoint(output_dir: Path, fingerprint: str) -> str | None:
    """The newest checkpoint of an earlier run with the same settings; stale runs are cleared."""
    marker = output_dir / FINGERPRINT
    if output_dir.exists() and marker.exists():
        try:
            earlier = json.loads(marker.read_text(encoding="utf-8")).get("fingerprint")
        except (ValueError, UnicodeDecodeError, AttributeError):
            raise ResourceError(f"{FINGERPRINT} is damaged, so labkit cannot tell which settings these checkpoints "
                                "belong to", str(marker), f"delete {output_dir} to start this run again") from None
        if earlier == fingerprint:
            _remove_unfinished(output_dir)
            checkpoints = sorted(output_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            if not checkpoints:
                return None
            problem = _damage(checkpoints[-1])
            if problem:
                raise ResourceError(f"damaged checkpoint: {problem}", str(checkpoints[-1]),
                                    f"delete {checkpoints[-1]} to resume from an earlier checkpoint (or from the start)")
            return str(checkpoints[-1])
        print(f"Settings changed since the last run in {output_dir}: starting afresh.")
        shutil.rmtree(output_dir)
    atomic.write_json(marker, {"fingerprint": fingerprint})
    return None


class LivePlotCallback(TrainerCallback):
    """Redraws the loss curve in the notebook while training runs (only inside Jupyter)."""

    def __init__(self, every: int = 5):
        from labkit.plots import LiveLossPlot

        self.plot, self.every = LiveLossPlot(), every

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.plot.add(state.global_step, logs["loss"], redraw=state.global_step % self.every == 0)

    def on_train_end(self, args, state, control, **kwargs):
        self.plot.close()


def train_sft(model, tokenizer, dataset, profile: Profile, output_dir: str | Path,
              lora: bool | Any = True, resume: bool = True, live_plot: bool | None = None,
              callbacks: list | None = None, **config_overrides: Any) -> tuple[Any, TrainResult]:
    """Fine-tune ``model`` on ``dataset`` with TRL's SFTTrainer and the profile's defaults.

    ``dataset`` is any format SFTTrainer takes (``messages``, ``prompt``/``completion``, ``text``).
    ``lora=True`` wraps the model in the profile's LoRA; pass a ``LoraConfig`` to choose, or
    ``False`` for a full fine-tune. The trained model is ``result_model = trainer.model``; this
    function returns it as the first element: ``model, result = train_sft(...)``.
    """
    from trl import SFTTrainer

    score_labelled_tokens_only()
    output_dir = Path(output_dir)
    config = sft_config(profile, output_dir, **config_overrides)
    peft_config = lora_config(profile) if lora is True else (lora or None)
    return run_trainer(SFTTrainer, config, model, tokenizer, dataset, peft_config, resume, live_plot, callbacks)


def run_trainer(trainer_cls, config, model, tokenizer, dataset, peft_config: Any = None, resume: bool = True,
                live_plot: bool | None = None, callbacks: list | None = None,
                **trainer_kwargs: Any) -> tuple[Any, TrainResult]:
    """Run one TRL trainer in its run folder (``config.output_dir``): resume from the last checkpoint
    of the same settings, show a live loss plot in a notebook, and measure the run.

    SFT, DPO, ORPO, KTO and GRPO all take the same steps; ``trainer_kwargs`` adds what one of them
    needs beyond the common arguments (GRPO's ``reward_funcs``)."""
    peft_config = copy.deepcopy(peft_config)  # peft fills in fields when it applies a config; keep the caller's intact
    output_dir = Path(config.output_dir)
    resume_from = _last_checkpoint(output_dir, _fingerprint(config, peft_config, dataset)) if resume else None
    live = progress.in_notebook() if live_plot is None else live_plot
    callbacks = (callbacks or []) + ([LivePlotCallback(every=max(1, config.max_steps // 20))] if live else [])
    progress.quiet_datasets()  # TRL tokenises in the constructor, one progress bar per map
    trainer = trainer_cls(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                          peft_config=peft_config, callbacks=callbacks, **trainer_kwargs)
    fp32_master_weights(trainer.model)  # after peft wrapped it: adapters and saved heads train in fp32 too
    start = time.perf_counter()
    output = _train(trainer, output_dir, resume_from)
    result = _result_from(trainer, output, output_dir, time.perf_counter() - start, resume_from)
    return trainer.model.eval(), result


def _train(trainer, output_dir: Path, resume_from: str | None):
    """``trainer.train`` with progress suited to where it runs (:mod:`labkit.progress`); a full disk
    becomes a ResourceError, and a checkpoint cut off is removed."""
    progress.for_trainer(trainer)
    try:
        with disk_errors(str(output_dir)):
            return trainer.train(resume_from_checkpoint=resume_from)
    finally:
        _remove_unfinished(output_dir)


def _result_from(trainer, output, output_dir: Path, runtime: float, resume_from: str | None) -> TrainResult:
    history = trainer.state.log_history
    losses = [row["loss"] for row in history if "loss" in row]
    return TrainResult(
        output_dir=output_dir, steps=trainer.state.global_step, train_loss=output.training_loss,
        final_loss=losses[-1] if losses else float("nan"), runtime_s=runtime,
        trainable_parameters=sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        resumed_from=resume_from, log_history=history,
    )


def train_classifier(model, tokenizer, dataset, profile: Profile, output_dir: str | Path,
                     text_field: str = "text", label_field: str = "label", resume: bool = True,
                     callbacks: list | None = None, **args_overrides: Any) -> tuple[Any, TrainResult]:
    """Fine-tune a sequence classifier with plain ``transformers.Trainer``.

    ``dataset`` holds text and integer labels; texts are padded per batch (dynamic padding), so
    short examples cost little. Freeze parameters before calling for a linear probe: only those
    with ``requires_grad`` train. Returns the model and a :class:`TrainResult`.
    """
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    output_dir = Path(output_dir)
    max_steps = args_overrides.get("max_steps", profile.max_steps)
    settings = dict(
        output_dir=str(output_dir), max_steps=max_steps, learning_rate=5e-5,
        per_device_train_batch_size=profile.per_device_train_batch_size, lr_scheduler_type="linear",
        warmup_steps=min(5, max_steps // 10), logging_steps=1, save_strategy="steps",
        save_steps=max(10, max_steps // 3), save_total_limit=1, report_to="none", seed=shifted(42),
        **_precision(profile),
    )
    args = TrainingArguments(**{**settings, **args_overrides})
    progress.quiet_datasets()
    encoded = dataset.map(lambda batch: tokenizer(batch[text_field], truncation=True, max_length=profile.max_length),
                          batched=True, remove_columns=[c for c in dataset.column_names if c != label_field])
    if label_field != "labels":
        encoded = encoded.rename_column(label_field, "labels")
    resume_from = _last_checkpoint(output_dir, _fingerprint(args, None, dataset)) if resume else None
    fp32_master_weights(model)
    trainer = Trainer(model=model, args=args, train_dataset=encoded, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer), callbacks=callbacks)
    start = time.perf_counter()
    output = _train(trainer, output_dir, resume_from)
    result = _result_from(trainer, output, output_dir, time.perf_counter() - start, resume_from)
    return trainer.model.eval(), result


def run_dir(name: str) -> Path:
    """Where a notebook's training run keeps checkpoints: ``$LABKIT_RUNS/name`` (default ``runs/name``).

    Re-running a notebook resumes from here; ``make test`` points it at a fresh temporary folder.
    """
    return Path(os.environ.get("LABKIT_RUNS", "runs")) / name
