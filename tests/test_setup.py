"""The set-up files agree: pyproject.toml, environment.yml, the Makefile, .ci/run and the README."""

import os
import re
import signal
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_pins_as_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    conda_pins = {line for line in pip_section if not line.startswith("-")}
    assert conda_pins == set(pyproject()["project"]["dependencies"])
    assert "-e ." in pip_section


def test_every_dependency_is_pinned_and_torch_is_the_cpu_friendly_pin():
    dependencies = pyproject()["project"]["dependencies"]
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[\w.]+", dep) for dep in dependencies), dependencies
    assert "torch==2.13.0" in dependencies


def test_no_deps_package_is_the_same_everywhere():
    (pin,) = pyproject()["tool"]["labkit"]["no-deps"]
    assert f"NO_DEPS := {pin}" in (ROOT / "Makefile").read_text()
    assert f"pip install --no-deps {pin}" in (ROOT / "environment.yml").read_text()
    assert pin in (ROOT / "notebooks" / "00_welcome.ipynb").read_text()  # the Colab set-up cell


def test_ci_runs_the_readme_test_command_and_nothing_else():
    script = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert script[-1] == "exec make test"
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_every_notebook_starts_with_the_colab_setup_cell():
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert "google.colab" in cells[0].source, f"{path.name}: first code cell must be the Colab set-up cell"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_lab_serves_the_course(tmp_path):
    port, token = free_port(), "labkit-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    server = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline, answer = time.time() + 90, None
        while time.time() < deadline and answer is None:
            try:
                url = f"http://127.0.0.1:{port}/api/contents?token={token}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    answer = response.read().decode()
            except OSError:
                assert server.poll() is None, "make lab exited early"
                time.sleep(1)
        assert answer is not None, "JupyterLab did not answer within 90 s"
        assert "00_welcome.ipynb" in answer  # it serves the notebooks folder
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_notebooks_store_outputs_for_checked_cells_only():
    """nbval compares only cells with a stored output, so a checked cell without one checks nothing."""
    import nbformat

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type != "code":
                continue
            checked = cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT")
            where = f"{path.name} cell {number}"
            if checked:
                assert cell.outputs and cell.execution_count, f"{where}: run tools/store_outputs.py"
            else:
                assert not cell.outputs, f"{where}: unchecked cells are committed without outputs"
