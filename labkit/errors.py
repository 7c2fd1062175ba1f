"""labkit's errors: one family, each saying what was wrong, where, and what to do about it.

A learner who mistypes a config key, saves a data file in the wrong encoding or names a model that
is not here should read one clear sentence, not a stack trace. So every public labkit function
that rejects its input raises a :class:`LabkitError`; its ``str`` is that sentence::

    run.yaml: key 'training.learning_rate': must be greater than 0, got -0.1
      fix: use a small positive rate such as 0.001, or null for the profile's

The command line (:mod:`labkit.cli`) prints exactly this and exits with status 2; a notebook shows
the same text under the exception's name, without a stack trace
(``LABKIT_DEBUG=1`` shows it). Four kinds, so a caller can catch the one it expects:
:class:`ConfigError` (a run config or profile), :class:`DataError` (a data file),
:class:`ModelError` (a model that cannot be loaded here), :class:`ResourceError` (a full disk, a
folder that cannot be written, a damaged checkpoint).
"""

from __future__ import annotations

import errno
import os
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class LabkitError(Exception):
    """A problem with the learner's input or machine: ``problem`` at ``where``, and the ``fix``."""

    def __init__(self, problem: str, where: str = "", fix: str = ""):
        super().__init__(problem, where, fix)  # all three in args, so the error survives pickling
        self.problem, self.where, self.fix = problem, where, fix

    def __str__(self) -> str:
        head = f"{self.where}: {self.problem}" if self.where else self.problem
        return f"{head}\n  fix: {self.fix}" if self.fix else head

    def _render_traceback_(self) -> list[str]:
        """What Jupyter shows when this error ends a cell: the message and its fix, not a stack trace
        through library code (IPython calls this hook). ``LABKIT_DEBUG=1`` shows the traceback."""
        if os.environ.get("LABKIT_DEBUG"):
            return "".join(traceback.format_exception(self)).splitlines()
        return [f"{type(self).__name__}: {self}", "(set LABKIT_DEBUG=1 and run the cell again for the traceback)"]

    def at(self, where: str) -> LabkitError:
        """The same error placed more precisely (a caller knows the file its callee did not)."""
        return type(self)(self.problem, where, self.fix)


# Each keeps its old built-in parent, so code that caught ValueError or RuntimeError still does.
class ConfigError(LabkitError, ValueError):
    """A run config, profile or argument that cannot work; ``where`` names the file and key."""


class DataError(LabkitError, ValueError):
    """A data file that does not match its schema; ``where`` names the file and line."""


class ModelError(LabkitError, RuntimeError):
    """A model name that cannot be loaded here; ``fix`` names the offline models and profiles."""


class ResourceError(LabkitError):
    """The machine refused: a full disk, a read-only folder, a damaged checkpoint."""


DISK_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}
_FULL = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def disk_errors(where: str) -> Iterator[None]:
    """Turn a full disk or an unwritable folder met inside the block into a :class:`ResourceError`.

    Other ``OSError`` s pass through unchanged: they are not the machine's fault, and hiding them
    would hide a bug.
    """
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_PROBLEMS:
            raise
        named = error.filename and not Path(str(error.filename)).name.startswith(".")  # not our temporary name
        place = error.filename if named else where
        fix = ("free some disk space (old run folders under $LABKIT_RUNS, ~/.cache) or write elsewhere "
               "(--run-dir or LABKIT_RUNS), then run again: finished work is kept" if error.errno in _FULL else
               "choose a folder you can write to (--run-dir or LABKIT_RUNS), or fix its permissions")
        raise ResourceError(f"cannot write here: {DISK_PROBLEMS[error.errno]}", str(place), fix) from error
