"""An audit trail: the SHA-256 of every file a run read or wrote, stage by stage, verified afterwards.

Accountability needs to say *which* data, config and weights produced a published number. A
manifest records, for each stage, every file's SHA-256 digest and size; :func:`verify` re-hashes
them later and names each file whose bytes changed or that disappeared. One flipped byte changes
the digest completely, so tampering (or silent corruption) cannot pass unseen. A manifest kept
beside the files can itself be rewritten: publish its own digest (:func:`file_sha256` of it)
somewhere the run cannot change, e.g. in the model card or a commit.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from labkit import atomic
from labkit.errors import DataError

CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks (weights files need not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_weights(name: str) -> list[Path]:
    """The safetensors files a course model (or a Hub model already in the local cache) loads its weights from."""
    from labkit import models

    folder = Path(models.model_path(name))
    if not folder.is_dir():  # a Hub id: the files of its cached snapshot, never a download
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(name, allow_patterns=["*.safetensors"], local_files_only=True))
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise DataError("no safetensors weights found", str(folder), "load the model once so its weights are on disk")
    return files


class AuditTrail:
    """A manifest (JSON) of ``{stage: {path: {"sha256", "bytes"}}}``, rewritten whole after every stage."""

    def __init__(self, manifest: str | Path, fresh: bool = True):
        self.manifest = Path(manifest)
        self.stages: dict[str, dict[str, dict]] = {}
        if not fresh and self.manifest.exists():
            self.stages = json.loads(self.manifest.read_text(encoding="utf-8"))["stages"]

    def record(self, stage: str, paths: Iterable[str | Path]) -> dict[str, dict]:
        """Hash ``paths`` under ``stage`` (a file recorded again in a later stage keeps both entries)."""
        entries = {}
        for path in map(Path, paths):
            if not path.is_file():
                raise DataError("not a file, nothing to hash", str(path), "record files that the stage wrote or read")
            entries[str(path.resolve())] = {"sha256": file_sha256(path), "bytes": path.stat().st_size}
        self.stages[stage] = entries
        atomic.write_json(self.manifest, {"algorithm": "sha256", "stages": self.stages}, indent=1)
        return entries


@dataclass
class Problem:
    stage: str
    path: str
    why: str  # "changed" or "missing"

    def __str__(self) -> str:
        return f"{self.stage}: {self.path} {self.why}"


def verify(manifest: str | Path) -> list[Problem]:
    """Re-hash every file in the manifest; the files whose bytes differ or that are gone (empty: all intact)."""
    stages = json.loads(Path(manifest).read_text(encoding="utf-8"))["stages"]
    problems = []
    for stage, entries in stages.items():
        for path, entry in entries.items():
            if not Path(path).is_file():
                problems.append(Problem(stage, path, "missing"))
            elif file_sha256(path) != entry["sha256"]:
                problems.append(Problem(stage, path, "changed"))
    return problems


def check_intact(manifest: str | Path) -> int:
    """Raise :class:`DataError` naming every changed or missing file; return how many files were verified."""
    problems = verify(manifest)
    if problems:
        raise DataError(f"{len(problems)} file(s) differ from the audit trail: " + "; ".join(map(str, problems)),
                        str(manifest), "restore the files from a trusted copy, or re-run the stage and record it again")
    return sum(len(e) for e in json.loads(Path(manifest).read_text(encoding="utf-8"))["stages"].values())
