"""List every notebook's asserts and exercise checks, and flag the kinds that cannot fail.

A check that holds by construction teaches nothing and hides regressions. This finds the
shapes that have crept in before:

* a bound that only restates a value's range: ``0 <= x <= 1``, ``0 <= n <= len(items)``;
* an exercise check whose verdict accepts anything measured: ``ok=x is not None and ...range...``,
  ``ok=True``, ``ok=x is not None``;
* an assert of a constant (``assert True``, ``assert 1``);
* a value compared with itself (``assert a == a``).

It cannot see every trivial check (a JSON round trip, a set built from the same loop); a reader
still must. Usage:

    python tools/assert_lint.py [notebooks/*.ipynb]   # prints the list; exit 1 if anything is flagged
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@dataclass
class Check:
    notebook: str
    cell: int
    line: int
    kind: str  # "assert" or "exercise"
    source: str
    flag: str = ""  # why it cannot fail, or "" if nothing is found


def _is_const(node: ast.AST, *values: float) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value in values


def _is_len_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "len"


def _range_only(node: ast.AST) -> str:
    """Why ``node`` restates a value's own range, or ''."""
    for sub in ast.walk(node):
        if not isinstance(sub, ast.Compare) or len(sub.ops) != 2:
            continue
        low, high = sub.left, sub.comparators[1]
        if not all(isinstance(op, (ast.LtE, ast.Lt)) for op in sub.ops):
            continue
        if _is_const(low, 0) and (_is_const(high, 1, 100) or _is_len_call(high)):
            return f"range check {ast.unparse(sub)} holds for any value of that kind"
    return ""


def _self_compare(node: ast.AST) -> str:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], (ast.Eq, ast.LtE, ast.GtE)):
            if ast.dump(sub.left) == ast.dump(sub.comparators[0]):
                return f"{ast.unparse(sub)} compares a value with itself"
    return ""


def _flag_assert(test: ast.AST) -> str:
    if isinstance(test, ast.Constant):
        return "asserts a constant"
    return _range_only(test) or _self_compare(test)


def _flag_exercise(call: ast.Call) -> str:
    ok = next((k.value for k in call.keywords if k.arg == "ok"), None)
    if ok is None:
        return ""
    if isinstance(ok, ast.Constant) and ok.value is True:
        return "ok=True accepts anything"
    if isinstance(ok, ast.Compare) and isinstance(ok.ops[0], ast.IsNot) and _is_const_none(ok.comparators[0]):
        return "ok only asks that an answer exists"
    return _range_only(ok) or _self_compare(ok)


def _is_const_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_check_call(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "check"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "exercises")


def checks_in_source(source: str, notebook: str = "<source>", cell: int = 0) -> list[Check]:
    """Every assert and ``exercises.check`` call in one cell's source, each flagged if it cannot fail."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            found.append(Check(notebook, cell, node.lineno, "assert", ast.unparse(node.test), _flag_assert(node.test)))
        elif _is_check_call(node):
            found.append(Check(notebook, cell, node.lineno, "exercise", ast.unparse(node), _flag_exercise(node)))
    return sorted(found, key=lambda c: c.line)


def checks_in_notebook(path: Path) -> list[Check]:
    notebook = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            found += checks_in_source(cell.source, path.name, index)
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(NOTEBOOKS.glob("*.ipynb"))
    flagged = 0
    for path in paths:
        checks = checks_in_notebook(path)
        counts = {kind: sum(c.kind == kind for c in checks) for kind in ("assert", "exercise")}
        print(f"{path.name}: {counts['assert']} asserts, {counts['exercise']} exercise checks")
        for c in checks:
            mark = f"  FLAG: {c.flag}" if c.flag else ""
            print(f"  cell {c.cell:>3} {c.kind:<8} {c.source[:110]}{mark}")
            flagged += bool(c.flag)
    print(f"{flagged} check(s) flagged as unable to fail")
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
