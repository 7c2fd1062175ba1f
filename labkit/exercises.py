"""Tiny checkers for notebook exercises: a clear verdict and a hint, never an exception.

An exercise cell is left unanswered (``None``) in the committed notebook, so "Run all" and CI
pass; the check then says what to do instead of failing.
"""

from __future__ import annotations

from typing import Any


def check(answer: Any, expected: Any = None, ok: bool | None = None, hint: str = "", tolerance: float = 1e-6) -> None:
    """Print whether ``answer`` is right (returns nothing, so a cell shows only the verdict).

    Pass ``expected`` (numbers compare within ``tolerance``) or a ready-made verdict ``ok``.
    """
    if answer is None:
        print("Not answered yet: fill in the cell above and run this one again.")
        return
    if ok is None:
        if isinstance(expected, (int, float)) and isinstance(answer, (int, float)):
            ok = abs(answer - expected) <= tolerance
        else:
            ok = answer == expected
    print("Correct." if ok else f"Not yet. {hint}".rstrip())
