"""The set-up files agree: pyproject.toml, environment.yml, the Makefile, .ci/run and the README."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # nbbuild: the Colab set-up cell and badges


def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def constraints() -> dict[str, str]:
    """constraints.txt as {name: version}: the exact versions CI tests."""
    lines = [line.split("#")[0].strip() for line in (ROOT / "constraints.txt").read_text().splitlines()]
    return dict(line.split("==") for line in lines if line)


def requirements():
    from packaging.requirements import Requirement

    project = pyproject()["project"]
    extras = [dep for group in project["optional-dependencies"].values() for dep in group]
    return [Requirement(dep) for dep in project["dependencies"] + extras]


def test_environment_yml_lists_the_constraints_pins():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    conda_pins = {line for line in pip_section if not line.startswith("-")}
    assert conda_pins == {f"{name}=={version}" for name, version in constraints().items()}
    assert "-e .[lab,test]" in pip_section


def test_every_dependency_is_a_range_with_its_tested_pin_inside():
    """pyproject asks for ranges (so Colab keeps its torch); constraints.txt pins each to the version CI tests."""
    pins = constraints()
    names = [req.name for req in requirements()]
    assert sorted(names) == sorted(pins), "constraints.txt pins exactly the dependencies and extras of pyproject.toml"
    for req in requirements():
        assert str(req.specifier) and "==" not in str(req.specifier), f"{req}: a range, not an exact pin"
        assert req.specifier.contains(pins[req.name]), f"{req.name}=={pins[req.name]} lies outside {req.specifier}"
    assert pins["torch"] == "2.13.0"  # the CPU build this machine installs quickly; a bare torch may pull CUDA


def test_make_installs_with_the_constraints_and_both_extras():
    makefile = (ROOT / "Makefile").read_text()
    assert '-c constraints.txt -e ".[lab,test]"' in makefile
    assert "$(STAMP): pyproject.toml constraints.txt Makefile" in makefile


def stub_torch_wheel(folder: Path, version: str) -> Path:
    """A wheel that installs only torch's metadata: what pip sees of a preinstalled torch (e.g. Colab's)."""
    import zipfile

    info = f"torch-{version}.dist-info"
    files = {"torch/__init__.py": f'__version__ = "{version}"\n',
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: labkit-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    path = folder / f"torch-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, text in files.items():
            wheel.writestr(name, text)
    return path


@pytest.mark.skipif(os.environ.get("LABKIT_SKIP_INSTALL_TEST") == "1", reason="LABKIT_SKIP_INSTALL_TEST=1")
def test_installing_labkit_keeps_a_preinstalled_torch_of_another_version(tmp_path):
    """As on Colab: a venv already holding torch 2.9.0; pip's plan for `pip install <labkit>` must not replace it.

    The plan is pip's own (``--dry-run --report``), resolved against the package index; nothing is installed.
    """
    import json
    import sys

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    subprocess.run([*pip, "install", "-q", "--no-index", str(stub_torch_wheel(tmp_path, "2.9.0"))], check=True)
    source = tmp_path / "labkit"  # a copy of the tracked files: the install must not write into the checkout
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes((ROOT / name).read_bytes())
    report = tmp_path / "report.json"
    subprocess.run([*pip, "install", "-q", "--dry-run", "--report", str(report), str(source)], check=True,
                   capture_output=True, text=True)
    planned = {item["metadata"]["name"]: item["metadata"]["version"] for item in json.loads(report.read_text())["install"]}
    assert "transformers" in planned and "labkit" in planned  # the plan was really resolved
    assert "torch" not in planned, f"pip would replace the installed torch 2.9.0 with {planned.get('torch')}"
    assert not [name for name in planned if name.startswith("nvidia-")]


def test_no_deps_package_is_the_same_everywhere():
    import nbbuild

    (pin,) = pyproject()["tool"]["labkit"]["no-deps"]
    assert f"NO_DEPS := {pin}" in (ROOT / "Makefile").read_text()
    assert f"pip install --no-deps {pin}" in (ROOT / "environment.yml").read_text()
    assert nbbuild.NO_DEPS_PIN == pin  # the Colab set-up cell


def test_ci_runs_the_readme_test_command_and_nothing_else():
    script = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert script[-1] == "exec make test"
    assert os.access(ROOT / ".ci" / "run", os.X_OK)
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme


def test_every_notebook_starts_with_the_colab_setup_cell():
    """One set-up cell, from tools/nbbuild.py: it installs from labkit.REPOSITORY and never pins torch."""
    import nbbuild
    import nbformat

    import labkit

    assert labkit.REPOSITORY in nbbuild.COLAB_SETUP and not re.search(r"\"torch|torch[=<>]", nbbuild.COLAB_SETUP)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert cells[0].source == nbbuild.COLAB_SETUP, f"{path.name}: first code cell must be nbbuild.COLAB_SETUP"


def test_readme_has_an_open_in_colab_badge_per_notebook():
    import nbbuild

    readme = (ROOT / "README.md").read_text()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert nbbuild.colab_badge(path.name) in readme, f"README: no Colab badge for {path.name}"


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


def test_notebooks_store_current_outputs_for_readers_and_nbval():
    """Committed notebooks show a real run's outputs, each produced by the code now in its cell.

    nbval compares only checked cells, and only where an output is stored, so a checked cell without
    one would check nothing. Every stored output carries the hash of the source it came from
    (tools/store_outputs.py): a cell edited since no longer matches, and the page would show the
    output of code that is gone. A notebook that draws must show its plots.
    """
    import nbformat

    sys.path.insert(0, str(ROOT / "tools"))
    from store_outputs import source_hash

    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        images = 0
        for number, cell in enumerate(cells):
            if cell.cell_type != "code":
                continue
            where = f"{path.name} cell {number}"
            if cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
                assert cell.outputs and cell.execution_count, f"{where}: run tools/store_outputs.py"
            if cell.outputs:
                stored = cell.metadata.get("labkit", {}).get("source")
                assert stored == source_hash(cell.source), f"{where} was edited after its output was stored: run tools/store_outputs.py"
                assert "site-packages" not in json.dumps(cell.outputs), f"{where}: a stored output shows a machine path"
                images += sum("image/png" in o.get("data", {}) for o in cell.outputs)
        draws = any(c.cell_type == "code" and ("plt." in c.source or "plots." in c.source) for c in cells)
        assert images or not draws, f"{path.name} draws plots but stores none: run tools/store_outputs.py"


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="on a GPU, run tools/gpu_check.sh itself")
def test_gpu_check_says_what_it_needs_without_a_gpu(tmp_path):
    run = subprocess.run(["bash", str(ROOT / "tools" / "gpu_check.sh")], capture_output=True, text=True,
                         env={**os.environ, "GPU_CHECK_OUT": str(tmp_path / "gpu.md")}, timeout=120)
    assert run.returncode == 2 and "CUDA" in run.stderr
    assert not (tmp_path / "gpu.md").exists()  # no report written from a machine that cannot run the check


def test_importing_the_course_stack_writes_nothing_to_stderr():
    """A notebook's first cell shows what it prints: library notes nobody can act on must not land there.

    torchao, which transformers imports whenever it is installed, logs one line per CUDA kernel a CPU
    torch cannot load, and torch a deprecation note per enum torchao registers; labkit quiets both.
    """
    code = ("import labkit\n"
            "from labkit import data, evaluate, exercises, models, plots, train\n"
            "from labkit.tuning import adapters, compress\n"
            "import transformers.quantizers.auto, peft, trl\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "LABKIT_PROFILE": "ci"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"stderr of a plain import: {result.stderr[:2000]}"


def test_wrapping_a_model_in_peft_writes_nothing_to_stderr():
    """peft reads transformers' deprecated `is_gradient_checkpointing`; its FutureWarning (with a
    machine path) landed in the stored outputs of notebooks 14 and 18 until labkit filtered it."""
    code = ("import labkit\n"
            "from peft import LoraConfig, get_peft_model\n"
            "from transformers import LlamaConfig, LlamaForCausalLM\n"
            "model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,\n"
            "                                     num_attention_heads=2, num_key_value_heads=1, vocab_size=64))\n"
            "get_peft_model(model, LoraConfig(r=2, target_modules=['q_proj']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "LABKIT_PROFILE": "ci"}, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", f"stderr of get_peft_model: {result.stderr[:2000]}"
