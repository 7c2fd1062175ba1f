"""Execute notebooks under the ``ci`` profile and store what a reader should see: every output.

Committed notebooks carry the outputs of a real run (plots, tables, replies), so the course reads
on GitHub or in a teacher's preparation without running anything. nbval (``--nbval-lax``) compares
only the cells marked ``# NBVAL_CHECK_OUTPUT``, so those must carry their reference output; the
others are for reading and are never compared.

Each stored cell records a hash of its source (``metadata.labkit.source``): tests/test_setup.py
fails when a cell was edited after its output was stored, so the page never shows the output of
code that is no longer there. stderr (library warnings with machine paths) is not stored. Run
after editing a notebook:

    .venv/bin/python tools/store_outputs.py notebooks/00_welcome.ipynb [...]
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARK = "# NBVAL_CHECK_OUTPUT"


def is_checked(cell) -> bool:
    return cell.cell_type == "code" and cell.source.lstrip().startswith(MARK)


def source_hash(source: str) -> str:
    """A short fingerprint of a cell's code: what its stored output was produced from."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def publishable(output) -> bool:
    """Outputs a reader should see: everything but stderr (warnings carry this machine's paths)."""
    return not (output.get("output_type") == "stream" and output.get("name") == "stderr")


def store(path: Path, timeout: int = 900) -> None:
    os.environ.update(LABKIT_PROFILE="ci", TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1",
                      HF_DATASETS_DISABLE_PROGRESS_BARS="1",
                      MPLBACKEND="module://matplotlib_inline.backend_inline")  # plots stored as images
    os.environ.setdefault("LABKIT_RUNS", tempfile.mkdtemp(prefix="labkit-runs-"))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    count = checked = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs = [o for o in cell.outputs if publishable(o)] if not is_checked(cell) else cell.outputs
        cell.metadata = {}
        if cell.outputs:
            count += 1
            cell.execution_count = count
            cell.metadata["labkit"] = {"source": source_hash(cell.source)}
        else:
            cell.execution_count = None
        checked += is_checked(cell)
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"{path}: stored the outputs of {count} cell(s), {checked} of them checked by nbval")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        store(Path(name))
