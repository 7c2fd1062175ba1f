"""UNTESTED OUTLINE of notebooks/21_safety_evaluation.ipynb (never executed; finish and run before use).

Run `python drafts/build_21.py` to write drafts/21_safety_evaluation.ipynb.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 21 · Safety evaluation

**Goal.** Measure how often SmolLM2 complies with unsafe requests and how often it refuses benign
requests that only look risky, with two judges (a trained guard and a refusal-phrase rule), then
safety-tune it with LoRA SFT and measure both rates again on held-out prompts (survey §7.8–7.9).
On the `gpu` profile the guard's role is played by Llama Guard or ShieldGemma (named, not downloaded).
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import labkit
from labkit.safety.rates import load_prompts, rate, rates_by_category
from labkit.safety.rules import is_refusal
from labkit.safety.guard import train_guard, precision_recall, agreement
profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("code", """
# NBVAL_CHECK_OUTPUT
rows = load_prompts("../data/safety_prompts.jsonl")
train = [r for r in rows if r["split"] == "train"]
test = [r for r in rows if r["split"] == "test"]
print(len(train), "train,", len(test), "test prompts")
"""),
# TODO: guard training on hand-labelled (prompt, reply) pairs; held-out precision/recall;
# TODO: baseline greedy generation (batched, short max_new_tokens) -> unsafe / benign-refusal rates;
# TODO: LoRA SFT with labkit.train.train_sft on hand-written refusals + helpful benign answers;
# TODO: rates after, asserts with margin, per-category bar plot, 2 exercises, summary, Next: 22.
("md", "## Summary\n\nNext: [22 · Stage 6: deployment](22_deployment.ipynb)."),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parent / "21_safety_evaluation.ipynb")
