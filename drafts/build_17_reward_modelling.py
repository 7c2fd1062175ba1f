import sys; sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import build, COLAB_SETUP

cells = [
("md", """
# 17 · Reward modelling

**Goal.** RLHF starts with a *reward model*: a network that reads a prompt and a reply and returns
one number, trained so that replies people prefer score higher (survey §6.8). We train one with
TRL's `RewardTrainer` on preference pairs, and we can check it against the truth, because the
preference in `data/preferences.jsonl` is one a program can compute: **concise and correct beats
verbose or wrong** (`labkit.preferences.score`).

We measure held-out **pairwise accuracy** (how often the chosen reply scores higher; chance is
50 %) before and after training, split by the kind of flaw, and the model's agreement with the
programmatic scorer. Notebooks 18 (PPO) and 19 (DPO) then optimise a policy against rewards.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import labkit
from labkit import data, exercises, models, plots, preferences, reward, train

profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", """
## The preference data
Every prompt is a small task with one right answer. The rejected reply is either right but padded
(`verbose`) or short but wrong (`wrong`), half and half, so "shorter is better" alone is not enough.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
pairs = data.split(data.load_jsonl("preferences.jsonl", schema="preference"))
train_pairs, test_pairs = pairs["train"], pairs["test"]
print(f"{len(train_pairs)} training pairs, {len(test_pairs)} held-out pairs")
for row in [r for r in test_pairs if r["flaw"] == "verbose"][:1] + [r for r in test_pairs if r["flaw"] == "wrong"][:1]:
    print(f"\\nprompt:   {row['prompt']}\\nchosen:   {row['chosen']}   (score {preferences.score(row['prompt'], row['chosen'])})"
          f"\\nrejected: {row['rejected'][:70]}   (score {preferences.score(row['prompt'], row['rejected'])}, {row['flaw']})")
"""),
("md", """
## The reward model and its baseline
A reward model is a sequence classifier with a single output. We start from a pretrained encoder
(`profile.encoder`, MiniLM-L6 offline) and add a fresh, randomly initialised score head. Before
training its scores carry no preference, so pairwise accuracy should sit near chance.
"""),
("code", """
backbone = profile.encoder
tokenizer = models.load_tokenizer(backbone)
model = models.load_model(backbone, kind="classifier", num_labels=1, dtype=profile.dtype, device=profile.device)
print(f"{backbone}: {models.parameter_count(model):,} parameters")

prompts = [r["prompt"] for r in test_pairs]
def held_out_rewards(model):
    return (reward.rewards(model, tokenizer, prompts, [r["chosen"] for r in test_pairs]),
            reward.rewards(model, tokenizer, prompts, [r["rejected"] for r in test_pairs]))

before_chosen, before_rejected = held_out_rewards(model)
before_acc = reward.pairwise_accuracy(before_chosen, before_rejected)
print(f"held-out pairwise accuracy before training: {before_acc:.0%} (chance: 50%)")
"""),
("md", """
## Training with the pairwise loss
`RewardTrainer` scores the chosen and the rejected reply of each pair and minimises
$-\\log \\sigma(r_\\text{chosen} - r_\\text{rejected})$: only the *difference* of two rewards is
learnt, so a reward's absolute value means nothing by itself. `reward.train_reward` builds the
`RewardConfig` from the profile and formats the pairs; `reward.rewards` later scores new replies in
exactly the same format (a mismatch there would quietly ruin the model).
"""),
("code", """
steps = profile.pick(ci=40, cpu=80, gpu=200)
model, result = reward.train_reward(model, tokenizer, train_pairs, profile, train.run_dir("17_reward"),
                                    max_steps=steps, learning_rate=1e-4, per_device_train_batch_size=16)
print(f"{result.steps} steps in {result.runtime_s:.0f} s, final loss {result.final_loss:.3f} (ln 2 = 0.693 is chance)")
"""),
("md", "## The measured effect"),
("code", """
after_chosen, after_rejected = held_out_rewards(model)
after_acc = reward.pairwise_accuracy(after_chosen, after_rejected)
by_flaw = {}
for flaw in ("verbose", "wrong"):
    idx = [i for i, r in enumerate(test_pairs) if r["flaw"] == flaw]
    by_flaw[flaw] = (reward.pairwise_accuracy([before_chosen[i] for i in idx], [before_rejected[i] for i in idx]),
                     reward.pairwise_accuracy([after_chosen[i] for i in idx], [after_rejected[i] for i in idx]))
plots.before_after({"pairwise accuracy, all": (before_acc, after_acc),
                    **{f"... rejected is {flaw}": values for flaw, values in by_flaw.items()}})
"""),
("md", """
How far does the reward model agree with the true scorer on replies it has never seen, written by
a real model? SmolLM2 answers held-out prompts twice: once told to be brief, once as it likes.
Where the scorer prefers one reply, does the reward model prefer the same one? (Rewards are only
comparable *within* a prompt: the pairwise loss fixes differences, not levels.)
"""),
("code", """
lm_tokenizer = models.load_tokenizer(profile.lm)
lm = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
from labkit import evaluate

probe = prompts[: profile.pick(ci=16, cpu=60, gpu=60)]
brief = evaluate.generate(lm, lm_tokenizer, probe, max_new_tokens=40, system="Answer in as few words as possible.")
chatty = evaluate.generate(lm, lm_tokenizer, probe, max_new_tokens=40)
true_diff = [preferences.score(p, a) - preferences.score(p, b) for p, a, b in zip(probe, brief, chatty)]
model_diff = [a - b for a, b in zip(reward.rewards(model, tokenizer, probe, brief), reward.rewards(model, tokenizer, probe, chatty))]
decided = [i for i, d in enumerate(true_diff) if d != 0]
agreement = sum((true_diff[i] > 0) == (model_diff[i] > 0) for i in decided) / max(len(decided), 1)
print(f"the scorer prefers one reply on {len(decided)} of {len(probe)} prompts; the reward model agrees on {agreement:.0%}")
"""),
("code", """
assert after_acc >= 0.75 and after_acc >= before_acc + 0.10, f"pairwise accuracy {before_acc:.0%} -> {after_acc:.0%}"
assert by_flaw["verbose"][1] >= 0.90, "the reward model should at least learn that padding is worse"
assert agreement >= 0.6, f"the reward model should mostly agree with the scorer on new replies: {agreement:.0%}"
print(f"held-out pairwise accuracy: {before_acc:.0%} -> {after_acc:.0%}; agreement with the scorer {agreement:.0%}")
"""),
("code", """
import matplotlib.pyplot as plt

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
plots.loss_curve({"reward model": result.losses}, ax=left, title="Pairwise loss")
left.axhline(0.693, color="grey", ls="--", lw=1, label="chance (ln 2)")
left.legend()
for flaw, colour in (("verbose", "tab:blue"), ("wrong", "tab:red")):
    margins = [after_chosen[i] - after_rejected[i] for i, r in enumerate(test_pairs) if r["flaw"] == flaw]
    right.hist(margins, bins=15, alpha=0.6, color=colour, label=f"rejected is {flaw}")
right.axvline(0, color="black", lw=1)
right.set(xlabel="reward(chosen) - reward(rejected)", ylabel="held-out pairs", title="Reward margins")
right.legend()
plt.tight_layout()
"""),
("md", """
**Reading the result.** The model separates *verbose* from concise almost perfectly: length and
filler words are easy to see. Telling a *wrong* answer from a right one needs arithmetic or
calendar knowledge that a 22M-parameter sentence encoder barely has, so that half stays closer to
chance. This is exactly the gap a policy will exploit in RLHF (*reward hacking*): optimised against
this model, it learns to be short long before it learns to be right. Larger backbones (the `gpu`
profile) close part of the gap; the programmatic scorer is the referee in notebooks 18 and 19.
"""),
("md", """
## Exercises
**1. Probe for reward hacking.** Write, for the prompt below, a reply that is *short but wrong*
and one that is *right but verbose*. Which one does the reward model prefer, and which does the
true scorer prefer? The check passes when you have found a pair on which they disagree.
"""),
("code", """
prompt = "What is 17 plus 25?"
short_wrong = None   # TODO: e.g. "It's ..."
verbose_right = None  # TODO: a long, padded reply containing the right answer

if short_wrong is None or verbose_right is None:
    exercises.check(None)
else:
    model_prefers_wrong = reward.rewards(model, tokenizer, [prompt] * 2, [short_wrong, verbose_right])
    scorer = [preferences.score(prompt, short_wrong), preferences.score(prompt, verbose_right)]
    print(f"reward model: {model_prefers_wrong}, scorer: {scorer}")
    exercises.check(True, ok=(model_prefers_wrong[0] > model_prefers_wrong[1]) != (scorer[0] > scorer[1]),
                    hint="Make the wrong reply shorter, or the right one longer.")
"""),
("md", """
**2. Accuracy by hand.** Compute the held-out pairwise accuracy on the `wrong` pairs only from
`after_chosen` and `after_rejected` (without `reward.pairwise_accuracy`).
"""),
("code", """
wrong_accuracy = None  # TODO
exercises.check(wrong_accuracy, by_flaw["wrong"][1], hint="Count the wrong-flaw pairs where chosen > rejected.")
"""),
("md", """
## Summary
* A reward model is a one-output classifier trained on pairs with $-\\log\\sigma(r_c - r_r)$.
* Ours went from chance to a clear held-out pairwise accuracy, and agrees broadly with the true
  scorer, but mostly by detecting verbosity: the "wrong" half stays hard.
* That gap is what a policy optimised against the reward model can exploit.

Next: **18 · PPO**, optimising a policy against a reward while a KL penalty keeps it close to
where it started.
"""),
]
build(cells, __import__("pathlib").Path(__file__).resolve().parents[1] / "notebooks" / "17_reward_modelling.ipynb")
