"""Profiles: one notebook, several sizes.

A profile fixes the model names, sequence length, batch size, step budget and precision. Cells
read its fields (``profile.lm``, ``profile.max_steps``); they never branch on the profile name.
Field names follow transformers/TRL so a field maps onto a config argument of the same name.

* ``ci``: CI on 2 CPU cores with no network; embedded models, tiny budgets (each notebook ~90 s).
* ``cpu``: a learner's laptop; the same embedded models, full-size lesson data (minutes).
* ``gpu``: Colab or a workstation; Hub models by name, fp16 or bf16, larger budgets.

``LABKIT_PROFILE`` chooses one; without it, a visible CUDA device means ``gpu``, else ``cpu``.
``LABKIT_DTYPE`` (``float32``, ``float16`` or ``bfloat16``) overrides the profile's precision, so the
half-precision path of the ``gpu`` profile can be run on a CPU at ``ci`` sizes; ``LABKIT_LM`` and
``LABKIT_ENCODER`` override its models (e.g. the embedded ones on a GPU machine without the Hub).
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

    def tolerance(self, float32: float, float16: float, bfloat16: float) -> float:
        """A numerical tolerance for this profile's precision: e.g. ``profile.tolerance(1e-4, 2e-3, 2e-2)``.

        Two ways of computing the same logits agree to ~1e-6 relative in fp32 but only to the
        precision's rounding in half precision (fp16 keeps 11 significant bits, bf16 8), so an
        assert written for fp32 fails under the ``gpu`` profile. One place, named per precision.
        """
        return {"float32": float32, "float16": float16, "bfloat16": bfloat16}[self.dtype]

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


def gpu_dtype(capability: tuple[int, int]) -> str:
    """bf16 on GPUs that multiply bf16 in hardware (compute capability 8.0 and up: A100, L4, H100, RTX 30xx+),
    fp16 elsewhere (a T4 is 7.5).

    ``torch.cuda.is_bf16_supported()`` is no guide: it counts emulation and answers True on a T4,
    where bf16 runs several times slower than fp16.
    """
    return "bfloat16" if tuple(capability) >= (8, 0) else "float16"


# GPU memory (GiB) -> sizes. The model stays the same, so every GPU teaches the same effects; more memory buys
# a larger batch. A free Colab T4 has 15 GiB: SmolLM2-360M in fp16 with LoRA at batch 8 x 512 tokens peaks ~6 GiB.
GPU_SIZES = ((20.0, dict(per_device_train_batch_size=8)),
             (float("inf"), dict(per_device_train_batch_size=16)))


def _gpu_profile() -> Profile:
    """The gpu profile adapted to the GPU found: its precision by compute capability, its batch by memory."""
    base = PROFILES["gpu"]
    if not torch.cuda.is_available():
        return base
    memory_gib = torch.cuda.get_device_properties(0).total_memory / 2**30
    sizes = next(values for limit, values in GPU_SIZES if memory_gib < limit)
    return replace(base, dtype=gpu_dtype(torch.cuda.get_device_capability(0)), **sizes)


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
    dtype = os.environ.get("LABKIT_DTYPE")
    if dtype:
        if dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError(f"{dtype!r} is not a precision", "LABKIT_DTYPE", "choose float32, float16 or bfloat16")
        active = replace(active, dtype=dtype)
    models = {field: os.environ[var] for field, var in (("lm", "LABKIT_LM"), ("encoder", "LABKIT_ENCODER"))
              if os.environ.get(var)}
    active = replace(active, **models)
    if active.num_threads:
        torch.set_num_threads(active.num_threads)
    return active
