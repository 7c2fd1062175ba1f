"""Measure what is bit-identical in a short SmolLM2 LoRA run: repeats, torch thread counts, bf16 autocast.

Each setting runs in its own process (thread count fixed before any work), trains the ci profile's
LoRA on ``data/facts.jsonl`` for a few steps from seed 42, and records the per-step losses, the
trained model's fp32 logits on fixed prompts, and the base model's logits with and without bf16
autocast. The parent compares the settings pairwise and writes the maximum differences to a JSON
file; ``docs/determinism.md`` reports them.

    .venv/bin/python tools/measure_determinism.py --steps 5 --out docs/determinism-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["What is the capital of Veloria?", "Write one sentence about the sea."]
# (name, torch threads, bf16 autocast in training); "again" repeats a setting in a fresh process
SETTINGS = [("fp32-1t", 1, False), ("fp32-1t-again", 1, False), ("fp32-2t", 2, False),
            ("bf16-1t", 1, True), ("bf16-1t-again", 1, True), ("bf16-2t", 2, True)]
PAIRS = [("fp32-1t", "fp32-1t-again", "repeat, fp32"), ("bf16-1t", "bf16-1t-again", "repeat, bf16 autocast"),
         ("fp32-1t", "fp32-2t", "1 vs 2 threads, fp32"), ("bf16-1t", "bf16-2t", "1 vs 2 threads, bf16 autocast"),
         ("fp32-1t", "bf16-1t", "bf16 autocast on vs off, 1 thread")]


def one_setting(threads: int, bf16: bool, steps: int, out: Path) -> None:
    """Train and measure in this process; write tensors to ``out`` (a torch file)."""
    import torch

    torch.set_num_threads(threads)
    import labkit
    from labkit import data, models, train

    profile = labkit.profile("ci")
    tokenizer = models.load_tokenizer(models.SMOLLM2)
    records = [r for r in data.load_jsonl(ROOT / "data" / "facts.jsonl") if r.get("split") == "train"]
    dataset = data.to_dataset(data.qa_to_chat(records))
    inputs = tokenizer([data.chat_prompt(tokenizer, p) for p in PROMPTS], return_tensors="pt", padding=True,
                       add_special_tokens=False)
    base = models.load_model(models.SMOLLM2)
    with torch.no_grad():
        base_fp32 = base(**inputs).logits
        with torch.autocast("cpu", dtype=torch.bfloat16):
            base_bf16 = base(**inputs).logits.float()
    with tempfile.TemporaryDirectory() as run:
        tuned, result = train.train_sft(base, tokenizer, dataset, profile, run, resume=False, live_plot=False,
                                        max_steps=steps, bf16=bf16, seed=42)
    with torch.no_grad():
        tuned_fp32 = tuned(**inputs).logits
    mask = inputs["attention_mask"].bool()
    torch.save({"losses": torch.tensor([loss for _, loss in result.losses], dtype=torch.float64),
                "base_fp32": base_fp32[mask], "base_bf16": base_bf16[mask], "tuned_fp32": tuned_fp32[mask],
                "threads": torch.get_num_threads(), "seconds": result.runtime_s}, out)


def max_differences(a: dict, b: dict) -> dict:
    import torch

    def diff(key: str) -> float:
        return float((a[key].double() - b[key].double()).abs().max())

    return {"losses": diff("losses"), "tuned_logits": diff("tuned_fp32"), "base_logits_fp32": diff("base_fp32"),
            "base_logits_bf16": diff("base_bf16"),
            "tuned_argmax_agreement": float((a["tuned_fp32"].argmax(-1) == b["tuned_fp32"].argmax(-1)).double().mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "docs" / "determinism-cpu.json"))
    parser.add_argument("--one", nargs=3, metavar=("THREADS", "BF16", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        return one_setting(int(args.one[0]), args.one[1] == "1", args.steps, Path(args.one[2]))

    import torch

    from labkit.train import cpu_has_bf16

    results, folder = {}, Path(tempfile.mkdtemp(prefix="determinism-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2", "TQDM_DISABLE": "1"}
    for name, threads, bf16 in SETTINGS:
        out = folder / f"{name}.pt"
        subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--one", str(threads), str(int(bf16)),
                        str(out)], env=env, check=True)
        results[name] = torch.load(out)
        print(f"{name}: losses {[round(x, 6) for x in results[name]['losses'].tolist()]}", flush=True)
    report = {"machine": {"cpu": platform.processor() or platform.machine(), "cpu_has_bf16": cpu_has_bf16(),
                          "torch": torch.__version__, "steps": args.steps, "prompts": PROMPTS},
              "losses": {name: r["losses"].tolist() for name, r in results.items()},
              "seconds": {name: r["seconds"] for name, r in results.items()},
              "max_differences": {label: max_differences(results[a], results[b]) for a, b, label in PAIRS}}
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["max_differences"], indent=2))


if __name__ == "__main__":
    main()
