"""Run the notebooks under the conditions a learner's machine differs in, and write docs/robustness.md.

An effect asserted in CI must hold on any learner's machine, not only on the one it was tuned on.
Each notebook runs (ci profile, asserts on) under every condition:

* ``base``: seed 0, one torch thread, bf16 autocast where the CPU multiplies bf16 (what CI runs);
* ``seed1``, ``seed2``: every training seed shifted (``LABKIT_SEED``);
* ``threads2``: two torch threads (sums are reduced in another order);
* ``fp32``: no bf16 autocast (``LABKIT_CPU_BF16=0``), as on Apple silicon or an older x86 CPU;
* ``fp16``, ``bf16``: the gpu profile's half precision on the CPU (``LABKIT_DTYPE``).

Notebooks are executed with nbconvert rather than nbval: the half-precision conditions change the
printed profile, which nbval would compare; here only the asserts judge. A job of one thread runs
beside another; a two-thread job runs alone. The report lists pass/fail, seconds and, per notebook
and condition, the first line the notebook printed in its first asserting cell (its measured effect)
or the failing assertion.

    .venv/bin/python tools/robustness.py                       # everything (hours on 2 cores)
    .venv/bin/python tools/robustness.py --notebooks 12 13 --conditions base,seed1,seed2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS: dict[str, tuple[dict[str, str], int]] = {  # name: (environment, torch threads)
    "base": ({}, 1),
    "seed1": ({"LABKIT_SEED": "1"}, 1),
    "seed2": ({"LABKIT_SEED": "2"}, 1),
    "threads2": ({}, 2),
    "fp32": ({"LABKIT_CPU_BF16": "0"}, 1),
    "fp16": ({"LABKIT_DTYPE": "float16"}, 1),
    "bf16": ({"LABKIT_DTYPE": "bfloat16"}, 1),
}
CORES = 2


@dataclass
class Outcome:
    notebook: str
    condition: str
    passed: bool
    seconds: float
    detail: str  # the effect line the notebook printed, or the failing assertion


# The printed lines that carry each notebook's measured effect (a regex per notebook number); where a
# notebook has none here, the first printed line of its first asserting cell stands in.
EFFECT_LINES = {
    "12": r"^(prompt tuning|prefix tuning|IA3|LoKr|bottleneck adapter|LoRA)\s+accuracy",
    "25": r"^(mean VQA accuracy|with the wrong pictures)",
    "26": r"^(held-out accuracy on the 8 kinds|pretrained minus scratch)",
    "27": r"^(target eps|exposure (without|with) DP|on the union's test set)",
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def printed(cell: dict) -> list[str]:
    text = "".join("".join(o.get("text") or o.get("data", {}).get("text/plain", "")) for o in cell.get("outputs", []))
    return [ANSI.sub("", line).strip() for line in text.splitlines() if line.strip()]


def effect_line(executed: dict, number: str) -> str:
    """What the run measured: the notebook's effect lines, else the first line its first asserting cell printed."""
    cells = [c for c in executed["cells"] if c["cell_type"] == "code"]
    if number in EFFECT_LINES:
        lines = [line for c in cells for line in printed(c) if re.search(EFFECT_LINES[number], line)]
        return "; ".join(re.sub(r"\s+", " ", line) for line in lines)[:400]
    for cell in cells[2:]:
        if re.search(r"^\s*assert ", "".join(cell["source"]), re.M) and printed(cell):
            return printed(cell)[0][:140]
    return ""


def errors(executed: dict) -> list[str]:
    """``Error: message`` of every cell that raised (the run goes on past them: --allow-errors)."""
    return [ANSI.sub("", f"{o['ename']}: {o['evalue']}")[:200] for c in executed["cells"]
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def run_one(notebook: Path, condition: str, out_dir: Path) -> Outcome:
    env_extra, threads = CONDITIONS[condition]
    runs = tempfile.mkdtemp(prefix="labkit-runs-")
    env = {**os.environ, "LABKIT_PROFILE": "ci", "LABKIT_RUNS": runs, "MPLBACKEND": "agg", "TQDM_DISABLE": "1",
           "HF_HUB_DISABLE_PROGRESS_BARS": "1", "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           **env_extra}
    name = f"{notebook.stem}.{condition}"
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                          "--allow-errors", "--ExecutePreprocessor.timeout=1200", "--output-dir", str(out_dir),
                          "--output", name, str(notebook)], cwd=notebook.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    executed = out_dir / f"{name}.ipynb"
    if run.returncode != 0 or not executed.exists():
        return Outcome(notebook.stem, condition, False, seconds, (run.stderr.strip().splitlines() or ["no output"])[-1][:200])
    result = json.loads(executed.read_text())
    failed, measured = errors(result), effect_line(result, notebook.name[:2])
    detail = " | ".join(failed + ([measured] if measured else []))
    return Outcome(notebook.stem, condition, not failed, seconds, detail)


def schedule(jobs: list[tuple[Path, str]], out_dir: Path, progress) -> list[Outcome]:
    """Run jobs on CORES cores: one-thread jobs two at a time, a two-thread job alone."""
    cores = threading.Semaphore(CORES)

    def job(item):
        notebook, condition = item
        need = CONDITIONS[condition][1]
        for _ in range(need):
            cores.acquire()
        try:
            outcome = run_one(notebook, condition, out_dir)
        finally:
            for _ in range(need):
                cores.release()
        progress(outcome)
        return outcome

    # two-thread jobs first, so they do not wait behind a queue of one-thread jobs holding a core each
    ordered = sorted(jobs, key=lambda item: -CONDITIONS[item[1]][1])
    with ThreadPoolExecutor(max_workers=CORES) as pool:
        return list(pool.map(job, ordered))


def report(outcomes: list[Outcome], conditions: list[str], wall: float, cpu: str) -> str:
    by_key = {(o.notebook, o.condition): o for o in outcomes}
    notebooks = sorted({o.notebook for o in outcomes})
    passed = sum(o.passed for o in outcomes)
    lines = ["# Robustness of the asserted effects", "",
             f"Written by `tools/robustness.py` (`make robustness`) on {time.strftime('%Y-%m-%d')}, {cpu}, "
             f"{CORES} cores: **{passed} of {len(outcomes)} runs passed**, wall time {wall / 60:.1f} min. "
             "Profile `ci`; conditions as in the tool's docstring. A cell: pass/FAIL and seconds.", "",
             "| notebook | " + " | ".join(conditions) + " |", "| --- |" + " --- |" * len(conditions)]
    for nb in notebooks:
        cells = []
        for c in conditions:
            o = by_key.get((nb, c))
            cells.append("" if o is None else f"{'pass' if o.passed else '**FAIL**'} {o.seconds:.0f} s")
        lines.append(f"| {nb} | " + " | ".join(cells) + " |")
    lines += ["", "## What each run measured (or why it failed)", ""]
    for nb in notebooks:
        lines.append(f"**{nb}**")
        lines.append("")
        for c in conditions:
            o = by_key.get((nb, c))
            if o is not None:
                lines.append(f"- {c}: {'' if o.passed else 'FAILED: '}`{o.detail.replace('`', chr(39))}`")
        lines.append("")
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notebooks", nargs="*", default=[], help="numbers, e.g. 00 12 (default: all)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated, from: " + ", ".join(CONDITIONS))
    parser.add_argument("--out", default=str(ROOT / "docs" / "robustness.md"))
    args = parser.parse_args(argv)
    conditions = args.conditions.split(",")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        parser.error(f"unknown condition(s) {', '.join(unknown)}; choose from {', '.join(CONDITIONS)}")
    notebooks = sorted(p for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
                       if not args.notebooks or p.name[:2] in args.notebooks)
    jobs = [(nb, c) for nb in notebooks for c in conditions]
    out_dir = Path(tempfile.mkdtemp(prefix="labkit-robustness-"))
    start = time.perf_counter()

    def progress(o: Outcome):
        print(f"{'pass' if o.passed else 'FAIL'} {o.notebook} [{o.condition}] {o.seconds:.0f} s  {o.detail}", flush=True)

    outcomes = schedule(jobs, out_dir, progress)
    text = report(outcomes, conditions, time.perf_counter() - start, cpu_name())
    Path(args.out).write_text(text + "\n")
    print(f"wrote {args.out}; executed notebooks in {out_dir}")
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
