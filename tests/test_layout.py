"""labkit's folders read like the course: the core at the top, each part's techniques in a subpackage.

Imports only point down (core <- tasks <- one part's techniques <- perf <- the command line), there
are no cycles, every subpackage says what it holds and who uses it, no file in the repository
reaches a module under a path it no longer has, and the README's module table names every module.
"""

import ast
import re
import subprocess
from pathlib import Path

import pytest

import labkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "labkit"

CORE = {"profiles", "models", "data", "hubdata", "train", "evaluate", "plots", "widgets", "exercises", "seeding",
        "memory", "envcheck", "errors", "atomic", "progress"}
ENTRY_POINTS = {"cli", "__main__"}
# What each layer may import, besides itself: a technique subpackage sees the core and the tasks,
# never another part's techniques; perf measures the techniques; the command line reaches everything.
LAYERS = {"core": 0, "tasks": 1, "history": 2, "rag": 2, "dataprep": 2, "tuning": 2, "alignment": 2,
          "pipeline": 2, "evaluation": 2, "safety": 2, "serving": 2, "monitoring": 2, "accountability": 2,
          "privacy": 2, "capstone": 2, "scaling": 2, "audio": 2, "vision": 2,
          "perf": 3, "entry": 4}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "core"
    if len(parts) == 2 and parts[1] in CORE:
        return "core"
    if len(parts) == 2 and parts[1] in ENTRY_POINTS:
        return "entry"
    return parts[1]


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> set[str]:
    """Every labkit module this file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("labkit")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
            for alias in node.names:  # `from labkit.tuning import adapters` imports the module labkit.tuning.adapters
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return found


GRAPH = {name: imports_of(path) for name, path in MODULES.items()}


def test_every_import_names_a_module_that_exists():
    missing = {(name, target) for name, targets in GRAPH.items() for target in targets if target not in MODULES}
    assert not missing


def test_the_layer_table_knows_every_module():
    assert {layer(name) for name in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down(name):
    """A module imports from its own subpackage, or from a lower layer; never across or up."""
    own = layer(name)
    wrong = [t for t in GRAPH[name] if layer(t) != own and LAYERS[layer(t)] >= LAYERS[own]]
    assert not wrong, f"{name} ({own}) imports {wrong}"


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(name, path):
        state[name] = 1
        for target in sorted(GRAPH[name]):
            if target == "labkit" or target == name:
                continue
            if state.get(target) == 1:
                raise AssertionError(" -> ".join(path + [name, target]))
            if target not in state:
                visit(target, path + [name])
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name, [])


SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_each_subpackage_says_what_it_holds_and_who_uses_it(sub):
    doc = ast.get_docstring(ast.parse((PACKAGE / sub / "__init__.py").read_text(encoding="utf-8")))
    assert doc and len(doc.splitlines()) <= 2, f"labkit.{sub}: a two-line docstring"
    assert re.search(r"notebooks? \d\d|no notebook", doc), f"labkit.{sub}: name the notebooks that use it"


def tracked_text_files():
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in listed if f.endswith((".py", ".ipynb", ".md", ".toml", ".yml", ".yaml", ".cfg"))
            or f in ("Makefile",)]


def test_no_file_reaches_a_module_by_a_path_it_no_longer_has():
    """Every dotted path into labkit, and every name imported from it, in code, notebooks and docs is a real module."""
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    top_level = {name.split(".")[1] for name in MODULES if name.count(".") >= 1}
    exported = set(labkit.__all__) | {"__all__", "__version__", "egg"}  # egg: labkit.egg-info
    stale = []
    for path in tracked_text_files():
        text, where = path.read_text(encoding="utf-8"), path.relative_to(ROOT)
        for match in re.finditer(r"(?<![\w.])labkit((?:\.\w+)+)", text):
            parts = match.group(1).split(".")[1:]
            if parts[0] not in top_level | exported:
                stale.append(f"{where}: labkit.{parts[0]}")
            elif f"labkit.{parts[0]}" in packages and f"labkit.{parts[0]}" != "labkit" and len(parts) > 1 \
                    and f"labkit.{parts[0]}.{parts[1]}" not in MODULES:
                stale.append(f"{where}: labkit.{parts[0]}.{parts[1]}")
        for match in re.finditer(r"from labkit(\.\w+)? import ([\w, ]+)", text):
            package = "labkit" + (match.group(1) or "")
            names = {n.split()[0] for n in match.group(2).split(",") if n.strip()}
            if package == "labkit":
                stale += [f"{where}: from labkit import {n}" for n in names - top_level - exported]
            elif package in packages:
                stale += [f"{where}: from {package} import {n}" for n in names if f"{package}.{n}" not in MODULES]
    assert not stale, stale


def test_readme_module_table_mirrors_the_folders():
    """One row per core module (`name`) and one per subpackage (`name/`) naming each of its modules."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## The labkit package", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    for name, path in MODULES.items():
        parts = name.split(".")[1:]
        if not parts or parts == ["__main__"]:
            continue
        if len(parts) == 1 and path.name != "__init__.py":
            assert any(f"`{parts[0]}`" in row.split("|")[1] for row in rows), f"README module table lacks `{parts[0]}`"
            continue
        row = next((r for r in rows if f"`{parts[0]}/`" in r.split("|")[1]), None)
        assert row, f"README module table lacks a row for `{parts[0]}/`"
        if len(parts) == 2:
            assert f"`{parts[1]}`" in row, f"README module table: the row of `{parts[0]}/` lacks `{parts[1]}`"
