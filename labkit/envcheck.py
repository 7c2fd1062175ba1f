"""What this machine has: library versions, device, threads, and which course models are ready.

Notebook 00 prints it, ``labkit info`` prints it, and bug reports should paste it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

import torch

from labkit import models
from labkit.errors import ModelError

LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "sentence-transformers",
             "gguf", "jupyterlab", "ipywidgets", "matplotlib")


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def report() -> dict[str, str]:
    """A flat ``{item: value}`` description of the environment."""
    info = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    info |= {name: _version(name) for name in LIBRARIES}
    info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    info["cpu threads (torch)"] = str(torch.get_num_threads())
    info["cpu cores"] = str(os.cpu_count())
    info["model cache"] = str(models.cache_dir())
    smollm2 = models.cache_dir() / models.SMOLLM2 / models.COMPLETE_MARKER
    info[models.SMOLLM2] = "converted" if smollm2.exists() else "not yet converted (first load takes ~20 s)"
    try:
        models.model_path(models.MINILM)
        info[models.MINILM] = "installed"
    except ModelError as error:
        info[models.MINILM] = str(error)
    return info


def format_report(info: dict[str, str] | None = None) -> str:
    info = report() if info is None else info
    return "\n".join(f"{key:<24}{value}" for key, value in info.items())
