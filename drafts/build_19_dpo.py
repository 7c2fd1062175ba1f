import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import build, COLAB_SETUP

cells = []
md = lambda s: cells.append(("md", s))
code = lambda s: cells.append(("code", s))

md(r"""
# 19 · DPO and its relatives

**Goal.** Align a chat model to preference pairs *directly*, with no reward model and no sampling
in the loop: **DPO** (survey arXiv 2408.13296, §6.9). Then three relatives on the same data and
the same budget: **ORPO** (no reference model at all), **KTO** (needs only a thumbs-up or
thumbs-down per reply) and **GRPO** (on-policy RL like PPO, but with a group of samples instead of
a value head, here with the *verifiable* programmatic reward).

The preference is the course's checkable one (`data/preferences.jsonl`): **concise and correct
beats verbose or wrong**, and `labkit.preferences.score` is the referee. One table compares the
methods: held-out **win rate** against the untuned model, DPO's implicit **reward margin** on
held-out pairs, **wall time** and **peak memory**. Then the effect of DPO's $\beta$, and DPO
against PPO (notebook 18).
""")
code(COLAB_SETUP)
code("""
# NBVAL_CHECK_OUTPUT
import time
import labkit
import pandas as pd
from labkit import align, data, dpo, evaluate, exercises, models, plots, preferences, train

profile = labkit.profile()
labkit.set_seed(0)
profile
""")
md("""
## Data and budget
Every method gets the same pairs in TRL's conversational format and the same number of optimizer
steps. In the `ci` profile that is a few dozen pairs: enough to see each method move, not to
finish it; the `cpu` profile trains longer.
""")
code("""
# NBVAL_CHECK_OUTPUT
steps = profile.pick(ci=6, cpu=16, gpu=100)
batch = profile.pick(ci=4, cpu=8, gpu=16)
train_pairs = preferences.load("train")[: steps * batch]  # exactly what the steps will see
test_pairs = preferences.load("test")[: profile.pick(ci=16, cpu=60, gpu=60)]
pair_data = data.to_dataset(preferences.conversational(train_pairs))
prompt_data = data.to_dataset([{"prompt": row["prompt"]} for row in preferences.conversational(train_pairs)])
lora = train.lora_config(profile, r=8, lora_alpha=16)
print(f"{len(train_pairs)} training pairs, {len(test_pairs)} held-out pairs, {steps} steps of {batch}")
print("a pair:", {key: pair_data[0][key][0]["content"][:60] for key in ("prompt", "chosen", "rejected")})
""")
md("""
## The reference: the untuned model
Greedy replies of the untuned model to the held-out prompts: every tuned model is compared with
these, prompt by prompt. A tuned reply *wins* when the scorer gives it more than the reference's
reply to the same prompt; a tie counts half, so an unchanged model scores 50 %.
""")
code("""
tokenizer = models.load_tokenizer(profile.lm)
held_out = [row["prompt"] for row in test_pairs]
reply_tokens = 24


def replies_of(model):
    return evaluate.generate(model, tokenizer, held_out, max_new_tokens=reply_tokens, batch_size=16)


reference_replies = replies_of(models.load_model(profile.lm, dtype=profile.dtype, device=profile.device))
reference_score = sum(map(preferences.score, held_out, reference_replies)) / len(held_out)
for prompt, reply in list(zip(held_out, reference_replies))[:3]:
    print(f"{preferences.score(prompt, reply):.2f}  {prompt} -> {reply[:70]!r}")
print(f"mean score of the reference: {reference_score:.3f}")
""")
md(r"""
## The DPO loss, inline
For a prompt $x$ with chosen reply $y_c$ and rejected $y_r$, DPO compares how much more likely the
policy $\pi$ makes each reply than the frozen reference $\pi_\text{ref}$ does:

$h = \log\frac{\pi(y_c|x)}{\pi_\text{ref}(y_c|x)} - \log\frac{\pi(y_r|x)}{\pi_\text{ref}(y_r|x)},\qquad
\mathcal{L}_\text{DPO} = -\log\sigma(\beta h)$

$\beta h$ is the *implicit reward margin*: DPO is the reward-model loss of notebook 17 with the
reward $r(x, y) = \beta \log \pi(y|x)/\pi_\text{ref}(y|x)$ defined by the policy itself. So no
reward model is trained and nothing is sampled: four log-probabilities per pair are all it needs.
""")
code("""
import torch
import torch.nn.functional as F


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta=0.1):
    \"\"\"Mean DPO loss from summed log-probabilities of each reply (tensors, one value per pair).\"\"\"
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return -F.logsigmoid(beta * h).mean()


# At the start the policy *is* the reference: every margin is 0 and the loss is ln 2.
base = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
pc = align.sequence_logprobs(base, tokenizer, held_out[:4], [r["chosen"] for r in test_pairs[:4]])
pr = align.sequence_logprobs(base, tokenizer, held_out[:4], [r["rejected"] for r in test_pairs[:4]])
print(f"loss at the start: {dpo_loss(pc, pr, pc, pr).item():.4f} (ln 2 = 0.6931)")
print(f"once the chosen replies are 2 nats likelier: {dpo_loss(pc + 2, pr, pc, pr).item():.4f}")
reference_ratios = align.log_ratios(base, tokenizer, test_pairs)  # the reference's preference, scored once
""")
md("""
## DPO with TRL
`labkit.dpo.train_dpo` runs TRL's `DPOTrainer` with the profile's settings; with a LoRA adapter
the reference is the same model with the adapter switched off, and its log-probabilities are
computed once before training (`precompute_ref_log_probs`), not on every step.
""")
code("""
def measure(name, model, result, memory, beta=0.1):
    \"\"\"One row of the comparison table for a tuned model.\"\"\"
    replies = replies_of(model)
    margins = align.implicit_margins(model, tokenizer, test_pairs, beta=beta, reference=reference_ratios)
    return {"method": name, "win rate": align.win_rate(held_out, replies, reference_replies, preferences.score),
            "mean score": sum(map(preferences.score, held_out, replies)) / len(held_out),
            "reward margin": sum(margins) / len(margins),
            "wall time (s)": result.runtime_s, "peak memory (MiB)": memory.peak, "replies": replies}


rows = []
with align.PeakMemory() as memory:
    model, result = dpo.train_dpo(base, tokenizer, pair_data, profile, train.run_dir("19_dpo"), peft_config=lora,
                                  max_steps=steps, per_device_train_batch_size=batch, beta=0.1)
rows.append(measure("DPO", model, result, memory))
print({k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)})
""")
md("""
## The relatives
Same pairs, same steps, same LoRA adapter, a fresh copy of the base model each time.

* **ORPO** trains on the chosen reply with the usual SFT loss and adds a penalty on the *odds* of
  the rejected one; there is no reference model, so nothing to precompute or keep in memory.
* **KTO** sees each reply alone with a label (TRL splits every pair into a desirable and an
  undesirable example), which suits feedback like thumbs up/down that has no pairs.
* **GRPO** samples `num_generations` replies per prompt, scores them with the programmatic reward
  and pushes up the replies above their group's mean: PPO's clipped update without a value head.
""")
code("""
def fresh():
    return models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)


runs = {
    "ORPO": lambda: align.train_orpo(fresh(), tokenizer, pair_data, profile, train.run_dir("19_orpo"),
                                     peft_config=lora, max_steps=steps, per_device_train_batch_size=batch),
    "KTO": lambda: align.train_kto(fresh(), tokenizer, pair_data, profile, train.run_dir("19_kto"),
                                   peft_config=lora, max_steps=steps, per_device_train_batch_size=batch),
    "GRPO": lambda: align.train_grpo(fresh(), tokenizer, prompt_data, preferences.score, profile,
                                     train.run_dir("19_grpo"), peft_config=lora, max_steps=steps,
                                     per_device_train_batch_size=8, num_generations=4),
}
for name, run in runs.items():
    with align.PeakMemory() as memory:
        model, result = run()
    rows.append(measure(name, model, result, memory))
    print(name, {k: round(v, 3) for k, v in rows[-1].items() if isinstance(v, float)})
""")
md("## One table")
code("""
table = pd.DataFrame(rows).set_index("method").drop(columns="replies")
table.round(3)
""")
code("""
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
for ax, column in zip(axes, ["win rate", "reward margin", "wall time (s)", "peak memory (MiB)"]):
    plots.bar_compare(table[column].to_dict(), ylabel=column, ax=ax)
axes[0].axhline(0.5, color="grey", ls="--", lw=1)
plt.tight_layout()
""")
code("""
dpo_row = table.loc["DPO"]
assert dpo_row["win rate"] >= 0.6, f"DPO should beat the untuned model on held-out prompts: {dpo_row['win rate']:.0%}"
assert dpo_row["reward margin"] > 0, "DPO should move probability towards the chosen held-out replies"
assert (table["win rate"] > 0.5).sum() >= 3, f"most methods should beat the reference: {table['win rate'].to_dict()}"
print(f"win rates: {table['win rate'].round(2).to_dict()}")
""")
md("""
What did they learn? The replies to the same held-out prompts, side by side:
""")
code("""
pd.DataFrame({"prompt": held_out, "reference": reference_replies,
              **{row["method"]: row["replies"] for row in rows}}).head(6)
""")
md(r"""
## DPO's $\beta$
$\beta$ sets how far the policy may move from the reference: the loss saturates once $\beta h$ is
large, so a large $\beta$ stops pushing at a small log-ratio $h$, and a small $\beta$ keeps pushing
the policy further away. We train DPO again with a larger $\beta$ and compare the raw log-ratio
margin $h$ (the implicit margin divided by $\beta$) on the held-out pairs: the distance moved.
""")
code("""
with align.PeakMemory() as memory:
    strict, strict_result = dpo.train_dpo(fresh(), tokenizer, pair_data, profile, train.run_dir("19_dpo_beta"),
                                          peft_config=lora, max_steps=steps, per_device_train_batch_size=batch,
                                          beta=BIG_BETA)
strict_row = measure(f"DPO, beta={BIG_BETA}", strict, strict_result, memory, beta=BIG_BETA)
moved = {0.1: dpo_row["reward margin"] / 0.1, BIG_BETA: strict_row["reward margin"] / BIG_BETA}
print(f"raw log-ratio margin h: beta 0.1 -> {moved[0.1]:.2f} nats, beta {BIG_BETA} -> {moved[BIG_BETA]:.2f} nats")
print(f"win rate: beta 0.1 -> {dpo_row['win rate']:.0%}, beta {BIG_BETA} -> {strict_row['win rate']:.0%}")
assert moved[BIG_BETA] < moved[0.1], "a larger beta should keep the policy closer to the reference"
""")
md(r"""
## DPO against PPO
Both optimise the same objective, a reward minus $\beta\,$KL to a reference; they differ in what
they need and how they get there.

| | PPO (notebook 18) | DPO (this notebook) |
|---|---|---|
| needs | a reward model or program, a value head, a reference | preference pairs and a reference |
| sampling during training | yes, every iteration | none |
| models in memory | policy + value head + reference (free with LoRA) | policy + reference (scored once) |
| stability | many knobs (KL coefficient, clipping, GAE, value loss); reward can be hacked | one knob ($\beta$); a supervised loss |
| learns from | its own samples (on-policy): can go beyond the data | the fixed pairs (off-policy): bounded by them |

The measured compute on this machine (same model, same LoRA adapter, this profile):
""")
code("""
ppo_log = train.run_dir("18_ppo") / "summary.json"
compare = {"DPO": {"seconds per step": dpo_row["wall time (s)"] / steps, "replies sampled": 0}}
compare["GRPO"] = {"seconds per step": table.loc["GRPO", "wall time (s)"] / steps, "replies sampled": 8 * steps}
if ppo_log.exists():  # written by notebook 18 when it ran in this environment
    import json
    summary = json.loads(ppo_log.read_text())
    compare["PPO"] = {"seconds per step": summary["seconds"] / summary["iterations"], "replies sampled": summary["replies"]}
else:
    print("Run notebook 18 first to add PPO's measured row.")
pd.DataFrame(compare).T.round(2)
""")
md("""
## Exercises
**1. The loss by hand.** A pair has summed log-probabilities policy chosen -10, policy rejected
-14, reference chosen -11, reference rejected -12. What is the DPO loss at $\\beta = 0.1$?
""")
code("""
import math

loss_by_hand = None  # TODO: your code here
h = (-10 - -11) - (-14 - -12)
exercises.check(loss_by_hand, -math.log(1 / (1 + math.exp(-0.1 * h))), hint="h = (-10+11) - (-14+12) = 3; loss = -log sigmoid(0.1 h)")
""")
md("""
**2. A thumbs-down only.** KTO can learn from unpaired feedback. Build a KTO data set with only
the *rejected* replies (label `False`, columns `prompt`, `completion`, `label`) from `train_pairs`,
train it with `align.train_kto` for the same steps, and measure its win rate with `measure`.
Does learning only what *not* to say help? The check accepts any measured win rate.
""")
code("""
kto_negative_row = None  # TODO: e.g. measure("KTO, negatives only", model, result, memory)
exercises.check(None if kto_negative_row is None else kto_negative_row["win rate"],
                ok=kto_negative_row is not None and 0 <= kto_negative_row["win rate"] <= 1)
""")
md("""
## Summary
* **DPO** turns preference pairs into a classification loss on log-probability ratios: no reward
  model, no sampling, one knob $\\beta$; it beat the untuned model on held-out prompts.
* **ORPO** drops the reference, **KTO** drops the pairs, **GRPO** keeps on-policy sampling but
  drops PPO's value head; the table shows what each cost here and what it bought.
* A larger $\\beta$ keeps the policy closer to the reference.
* PPO can go beyond its data but needs a reward and sampling in the loop; DPO is cheaper and
  steadier but learns only what the pairs show.

Next: **20 · Stage 5: evaluation**, the metrics and harnesses behind every number so far.
""")

text = [(k, s.replace("BIG_BETA", "1.0")) for k, s in cells]
build(text, sys.argv[1] if len(sys.argv) > 1 else __import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks" / "19_dpo_and_relatives.ipynb")
