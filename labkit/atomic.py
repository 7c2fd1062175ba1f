"""Writing files whole or not at all: a full disk or an interruption leaves no half-written artefact.

A half-written ``done.json`` or ``metrics.json`` is worse than none: a re-run would trust it, or fail
on it with a confusing message. So a file is written under a temporary name in the same folder and
renamed into place only once it is complete (``os.replace`` is atomic on one file system): a reader
sees the old file or the new one, never a piece. A folder (an adapter, a merged model) is staged the
same way with :func:`staged_folder`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from labkit.errors import disk_errors


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; a full disk raises ``ResourceError`` naming it."""
    path = Path(path)
    with disk_errors(str(path)):
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())  # a full disk often shows only here
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
    return path


def write_json(path: str | os.PathLike, value: Any, **dumps: Any) -> Path:
    """``value`` as JSON (non-ASCII kept readable), written atomically."""
    return write_text(path, json.dumps(value, ensure_ascii=False, **dumps))


@contextmanager
def staged_folder(target: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``target`` to fill; renamed to ``target`` only if the block succeeds."""
    target = Path(target)
    with disk_errors(str(target)):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            yield staging
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
