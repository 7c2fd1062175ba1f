"""Profiles: one notebook, several sizes.

A profile fixes the model names, sequence length, batch size, step budget and precision. Cells
read its fields (``profile.lm``, ``profile.max_steps``); they never branch on the profile name.
Field names follow transformers/TRL so a field maps onto a config argument of the same name.

* ``ci``: CI on 2 CPU cores with no network; embedded models, tiny budgets (each notebook ~90 s).
* ``cpu``: a learner's laptop; the same embedded models, full-size lesson data (minutes).
* ``gpu``: Colab or a workstation; Hub models by name, fp16 or bf16, larger budgets.

``LABKIT_PROFILE`` chooses one; without it, a visible CUDA device means ``gpu``, else ``cpu``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from typing import Any

import torch

from labkit.errors import ConfigError
from labkit.models import MINILM, SMOLLM2

PROFILE_NAMES = ("ci", "cpu", "gpu")


@dataclass(frozen=True)
class Profile:
    """The sizes and names a notebook runs with. Immutable: use ``dataclasses.replace`` to vary."""

    name: str
    lm: str  # the causal LM every generation notebook starts from
    encoder: str  # the sentence encoder (retrieval, classification)
    device: str
    dtype: str  # torch dtype name used for training and inference
    max_length: int  # tokens per training sequence (TRL's name)
    per_device_train_batch_size: int
    max_steps: int  # optimizer steps of a standard lesson fine-tune
    learning_rate: float  # for LoRA fine-tunes
    lora_r: int
    lora_alpha: int
    eval_limit: int | None  # at most this many evaluation examples (None: all)
    num_threads: int | None  # CPU threads for torch (None: torch's default)

    def pick(self, **by_profile: Any) -> Any:
        """A notebook-specific value per profile, e.g. ``profile.pick(ci=20, cpu=80, gpu=300)``."""
        missing = [name for name in PROFILE_NAMES if name not in by_profile]
        if missing:
            raise ValueError(f"pick() needs a value for every profile; missing: {', '.join(missing)}")
        return by_profile[self.name]

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, self.dtype)

    def __str__(self) -> str:
        rows = [f"  {f.name:<28}{getattr(self, f.name)!r}" for f in fields(self)]
        return f"labkit profile '{self.name}'\n" + "\n".join(rows)

    def _repr_pretty_(self, printer, cycle) -> None:  # how IPython shows `profile` as a cell's value
        printer.text(str(self))


_CPU_COMMON = dict(lm=SMOLLM2, encoder=MINILM, device="cpu", dtype="float32", lora_r=16, lora_alpha=32)

PROFILES = {
    "ci": Profile(name="ci", max_length=128, per_device_train_batch_size=8, max_steps=30,
                  learning_rate=2e-3, eval_limit=40, num_threads=None, **_CPU_COMMON),
    "cpu": Profile(name="cpu", max_length=256, per_device_train_batch_size=8, max_steps=60,
                   learning_rate=1e-3, eval_limit=None, num_threads=None, **_CPU_COMMON),
    "gpu": Profile(name="gpu", lm="HuggingFaceTB/SmolLM2-360M-Instruct",
                   encoder="sentence-transformers/all-MiniLM-L6-v2", device="cuda", dtype="float16",
                   max_length=512, per_device_train_batch_size=16, max_steps=200, learning_rate=5e-4,
                   lora_r=16, lora_alpha=32, eval_limit=None, num_threads=None),
}


def _gpu_profile() -> Profile:
    """The gpu profile adapted to the GPU found: bf16 where supported (not on a T4), else fp16."""
    base = PROFILES["gpu"]
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return replace(base, dtype="bfloat16")
    return base


def profile(name: str | None = None) -> Profile:
    """The active profile: ``name``, else ``$LABKIT_PROFILE``, else ``gpu`` with CUDA, else ``cpu``."""
    chosen = name or os.environ.get("LABKIT_PROFILE") or ("gpu" if torch.cuda.is_available() else "cpu")
    source = "profile" if name else "LABKIT_PROFILE" if os.environ.get("LABKIT_PROFILE") else "auto-detected profile"
    if chosen not in PROFILES:
        raise ConfigError(f"{chosen!r} is not a profile", source, f"choose one of {', '.join(PROFILES)}")
    if chosen == "gpu" and not torch.cuda.is_available():
        raise ConfigError("'gpu' needs a CUDA device and none is visible", source,
                          "use LABKIT_PROFILE=cpu (or ci), which run on this CPU")
    active = _gpu_profile() if chosen == "gpu" else PROFILES[chosen]
    if active.num_threads:
        torch.set_num_threads(active.num_threads)
    return active
