"""Execute notebooks under the ``ci`` profile and store the outputs of checked cells only.

nbval compares a cell's output only when the committed notebook holds one, so every cell marked
``# NBVAL_CHECK_OUTPUT`` must carry its reference output; every other cell is committed clean.
Run after editing a notebook:

    .venv/bin/python tools/store_outputs.py notebooks/00_welcome.ipynb [...]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def store(path: Path, timeout: int = 900) -> None:
    os.environ.update(LABKIT_PROFILE="ci", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                      HF_DATASETS_DISABLE_PROGRESS_BARS="1", MPLBACKEND="agg")
    os.environ.setdefault("LABKIT_RUNS", tempfile.mkdtemp(prefix="labkit-runs-"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    count = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if is_checked(cell):
            count += 1
            cell.execution_count = count
        else:
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {}
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"{path}: stored the outputs of {count} checked cell(s)")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        store(Path(name))
