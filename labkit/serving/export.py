"""Merge a LoRA adapter into its base and save it as safetensors: the artefact a server loads."""

from __future__ import annotations

from pathlib import Path


def merge_and_save(peft_model, tokenizer, folder: str | Path):
    """``merge_and_unload()`` the adapter (W + BA becomes one matrix) and ``save_pretrained`` model and tokenizer.

    A merged model needs no peft at serving time and runs as fast as the base: the adapter's extra
    matmuls are gone. Returns the plain merged model.
    """
    folder = Path(folder)
    merged = peft_model.merge_and_unload()
    merged.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return merged


def folder_bytes(folder: str | Path, pattern: str = "*") -> int:
    """Total bytes of the files in ``folder`` matching ``pattern`` (e.g. ``*.safetensors``)."""
    return sum(p.stat().st_size for p in Path(folder).glob(pattern) if p.is_file())
