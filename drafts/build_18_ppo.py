import sys
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import build, COLAB_SETUP

cells = []
md = lambda s: cells.append(("md", s))
code = lambda s: cells.append(("code", s))

md("""
# 18 · PPO: reinforcement learning from a reward

**Goal.** Fine-tune a chat model with **PPO**, the reinforcement-learning step of RLHF (survey
arXiv 2408.13296, §6.8). Instead of showing the model right answers (SFT), we let it *try*: it
samples replies, a reward scores them, and PPO nudges the model towards the replies that scored
well, while a **KL penalty** keeps it close to the original model so it cannot drift into
gibberish that happens to please the reward.

The reward is the course's programmatic preference, `labkit.preferences.score`: **concise and
correct** replies to small checkable tasks (arithmetic, unit conversions, the day after Monday ...).
In real RLHF the reward is a learnt reward model (notebook 17); a programmatic scorer lets us
measure the *true* effect. The measured effect: **mean held-out reward rises while the KL to the
reference stays under a bound**. TRL no longer ships PPO, so the algorithm is `labkit.ppo`, about
300 readable lines; this notebook writes its key piece, GAE, inline first.
""")
code(COLAB_SETUP)
md("""
## Set-up and profile
""")
code("""
# NBVAL_CHECK_OUTPUT
import labkit
import torch
from peft import get_peft_model
from labkit import evaluate, exercises, models, plots, ppo, preferences, train

profile = labkit.profile()
labkit.set_seed(0)
profile
""")
md("""
## The reward: concise and correct
`preferences.score(prompt, reply)` works out the right answer from the prompt itself, then gives
**1 for a correct reply** (the answer is there and no competing answer is) plus **0.5 × brevity**
(full marks up to 6 words, none from 30). So the best reply scores 1.5, a padded correct one 1.0,
a short wrong one 0.5. The same scorer ranks every pair of `data/preferences.jsonl` correctly.
""")
code("""
# NBVAL_CHECK_OUTPUT
prompt = "What is 17 plus 25?"
for reply in ["42", "17 plus 25 equals 42.", "43", "It is 42 or maybe 43.",
              "Great question! Let me think about this step by step. Adding the tens gives 30 and the "
              "units give 12, so the final answer, after careful checking, is 42. I hope this helps!"]:
    print(f"{preferences.score(prompt, reply):.2f}  {reply[:60]}")
""")
md("""
Training prompts come from the preference set's `train` split (the replies there are not used:
PPO writes its own); we measure on `test` prompts the policy never sees during training.
""")
code("""
# NBVAL_CHECK_OUTPUT
train_prompts = sorted({row["prompt"] for row in preferences.load("train")})
test_prompts = [row["prompt"] for row in preferences.load("test")][:profile.pick(ci=16, cpu=60, gpu=60)]
print(f"{len(train_prompts)} training prompts, {len(test_prompts)} held-out prompts, e.g.:")
print(*test_prompts[:4], sep="\\n")


def reward_fn(prompts, replies):
    \"\"\"The reward PPO maximises: one score per reply.\"\"\"
    return [preferences.score(p, r) for p, r in zip(prompts, replies)]
""")
md("""
## The policy and its reference
The **policy** is SmolLM2 with a LoRA adapter: only the adapter trains. The **reference** that
the KL penalty compares against is the frozen starting model, and with peft we get it for free:
the same model with the adapter switched off (`model.disable_adapter()`), no second copy in
memory. A **value head**, one linear layer on the last hidden state, is added by `train_ppo`.
""")
code("""
# NBVAL_CHECK_OUTPUT
tokenizer = models.load_tokenizer(profile.lm)
base = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
policy = get_peft_model(base, train.lora_config(profile, r=8, lora_alpha=16))
trainable = models.parameter_count(policy, trainable_only=True)
print(f"policy: {models.parameter_count(policy):,} parameters, {trainable:,} trainable (LoRA r=8)")
print(f"value head: {policy.config.hidden_size + 1} parameters")
""")
md("""
## PPO settings
`PPOConfig` uses the field names of TRL's last PPO trainer. Each iteration samples one reply
per prompt for `per_device_train_batch_size` prompts (at `temperature` 0.7), scores them, then
takes `num_ppo_epochs` passes in `num_mini_batches` minibatches. `kl_coef` prices one nat of KL
to the reference; `cliprange` is the $\\epsilon$ explained below. `missing_eos_penalty` (also
TRL's) docks replies that hit the length limit without finishing: cut at 16 tokens, a rambling
reply would otherwise look concise to the scorer.
""")
code("""
# NBVAL_CHECK_OUTPUT
config = ppo.PPOConfig(
    max_steps=profile.pick(ci=5, cpu=12, gpu=40),  # PPO iterations
    per_device_train_batch_size=profile.pick(ci=8, cpu=16, gpu=32),  # replies per rollout
    response_length=16,  # new tokens per reply at most
    learning_rate=1e-3,  # for the LoRA adapter and the value head
    temperature=0.7,  # sampling temperature of the rollouts
    kl_coef=0.1,  # price of one nat of KL to the reference, per token
    num_ppo_epochs=2, num_mini_batches=1,  # two passes over each rollout, all of it at once
    missing_eos_penalty=0.5,  # a reply cut off at response_length has not finished: it is not concise
)
print(ppo.config_table(config))
""")
md("""
## Baseline: held-out reward before PPO
What PPO maximises is the *expected* reward of the replies the policy samples, so that is what we
measure: two sampled replies per held-out prompt (fixed seed), scored like the rollouts, with the
missing-EOS penalty. The instruct model tends to explain at length ("To find the product of 3 and
6, we can use ..."): it rarely finishes within 16 tokens and is often wrong.
""")
code("""
before = ppo.evaluate_policy(policy, tokenizer, test_prompts, reward_fn, config)
for p, r, s in list(zip(before.prompts, before.replies, before.scores))[:6:2]:
    print(f"{s:.2f}  {p}  ->  {r!r}")
print(f"\\nmean held-out reward before PPO: {before.reward:.3f} (score {before.score:.3f}, "
      f"{before.ended:.0%} of replies finished, KL {before.kl:.2f})")
""")
md(r"""
## The key piece, inline: generalised advantage estimation
PPO needs to know, for every token of a reply, whether it was **better or worse than expected**:
the *advantage*. The reward arrives at the end of the reply (minus a small KL charge on every
token); the value head predicts the return from each position. GAE blends one-step and
multi-step estimates, working backwards from the last token:

$\delta_t = r_t + \gamma V_{t+1} - V_t,\qquad A_t = \delta_t + \gamma\lambda A_{t+1}$

$\lambda = 0$ trusts the value head (low variance, biased while it is still wrong); $\lambda = 1$
uses the actual return (unbiased, noisy). Written out for one reply:
""")
code("""
def gae_inline(rewards, values, gamma=1.0, lam=0.95):
    \"\"\"Advantages and returns of one reply, from its last token back.\"\"\"
    advantages, running = [0.0] * len(rewards), 0.0
    for t in reversed(range(len(rewards))):
        next_value = values[t + 1] if t + 1 < len(rewards) else 0.0
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        advantages[t] = running
    return advantages, [a + v for a, v in zip(advantages, values)]


rewards, values = [-0.01, -0.02, 0.00, 1.47], [0.4, 0.5, 0.7, 1.0]
mine, _ = gae_inline(rewards, values)
theirs, _ = ppo.gae(torch.tensor([rewards]), torch.tensor([values]), torch.ones(1, 4), gamma=1.0, lam=0.95)
print("advantages:", [round(a, 3) for a in mine])
assert torch.allclose(torch.tensor([mine]), theirs), "the inline GAE and labkit's should agree"
""")
md("""
## The clipped surrogate
With the advantage $A$ of a token and the ratio $\\rho = \\pi_{new}/\\pi_{old}$ of its probability
now and at rollout time, PPO minimises $-\\min(\\rho A,\\ \\mathrm{clip}(\\rho, 1-\\epsilon, 1+\\epsilon) A)$.
Once a good token's probability has risen by more than $\\epsilon$ (20 %), there is nothing more
to gain from it in this rollout: the update stays close to the policy that produced the data,
which is what lets PPO take several epochs over one batch. The **clip fraction** we log says how
often the clip was active.
""")
code("""
# NBVAL_CHECK_OUTPUT
ratios = torch.tensor([[0.5, 0.9, 1.0, 1.1, 1.5]])
for advantage in (1.0, -1.0):
    per_token = [ppo.policy_loss(r.log().view(1, 1), torch.zeros(1, 1), torch.tensor([[advantage]]),
                                 torch.ones(1, 1), cliprange=0.2)[0].item() for r in ratios[0]]
    print(f"A = {advantage:+.0f}: loss at ratios {ratios[0].tolist()} -> {[round(x, 2) for x in per_token]}")
""")
md("""
## Train
Every iteration prints its mean rollout reward, KL to the reference (summed over a reply),
the entropy of the policy per token and the clip fraction.
""")
code("""
def show(row):
    print(f"step {row['step']:>3}  reward {row['reward']:.3f}  KL {row['kl']:6.3f}  entropy {row['entropy']:.2f}  "
          f"clip {row['clipfrac']:.2f}  value loss {row['value_loss']:.3f}  ended {row['ended']:.0%}")


result = ppo.train_ppo(policy, tokenizer, train_prompts, reward_fn, config, callback=show)
print(f"{config.max_steps} iterations in {sum(row['seconds'] for row in result.logs):.0f} s")
""")
md("""
## The measured effect: held-out reward after PPO
The same held-out prompts, the same sampling and seed as the baseline. The KL to the reference is
measured on these replies too (summed over a reply, in nats): how far the policy has moved.
""")
code("""
after = ppo.evaluate_policy(policy, tokenizer, test_prompts, reward_fn, config)
plots.before_after({"mean held-out reward": (before.reward, after.reward),
                    "score (no penalty)": (before.score, after.score),
                    "replies finished": (before.ended, after.ended)})
""")
code("""
KL_BOUND = 6.0  # nats per reply (of at most 16 tokens)
print(f"mean held-out reward {before.reward:.3f} -> {after.reward:.3f}; KL to the reference {after.kl:.2f} nats per reply")
assert after.reward >= before.reward + 0.1, f"PPO should raise the held-out reward: {before.reward:.3f} -> {after.reward:.3f}"
assert after.kl < KL_BOUND, f"the KL penalty should keep the policy near the reference: {after.kl:.2f} nats"

# Notebook 19 compares DPO with this run: keep its measured cost next to the checkpoints.
import json
summary = {"iterations": config.max_steps, "replies": config.max_steps * config.per_device_train_batch_size,
           "seconds": sum(row["seconds"] for row in result.logs), "reward": [before.reward, after.reward], "kl": after.kl}
train.run_dir("18_ppo").mkdir(parents=True, exist_ok=True)
(train.run_dir("18_ppo") / "summary.json").write_text(json.dumps(summary, indent=1))
""")
md("""
## Curves
Reward should climb; KL rises from zero as the policy moves away from the reference, held
back by the penalty; entropy falls as the policy grows surer of itself; the clip fraction shows
how hard PPO had to hold back each update; the value loss falls as the value head learns to
predict the reward.
""")
code("""
import matplotlib.pyplot as plt

keys = ["reward", "kl", "entropy", "clipfrac", "value_loss"]
fig, axes = plt.subplots(1, len(keys), figsize=(17, 3))
for ax, key in zip(axes, keys):
    steps, values = zip(*result.curve(key))
    ax.plot(steps, values, marker=".")
    ax.set(title=key, xlabel="PPO iteration")
    ax.grid(alpha=0.3)
plt.tight_layout()
""")
md("""
What did the policy learn? Compare the replies side by side: PPO found whatever raises the
score, here mostly *shorter* replies. That is the strength and the danger of RL from a reward:
it optimises exactly what is measured. (A learnt reward model can be gamed the same way: that
is *reward hacking*, and the KL penalty is the first defence.)
""")
code("""
import pandas as pd

pd.DataFrame({"prompt": before.prompts, "before": before.replies, "after": after.replies,
              "score before": before.scores, "score after": after.scores})[::2].head(8)
""")
md("""
## Exercises
**1. The KL estimate.** A token's KL contribution is estimated from the log-probabilities of the
*sampled* token under the policy and the reference. If the policy gave a token probability 0.6
and the reference 0.3, what is the `k1` estimate $\\log p - \\log q$ for that token (in nats)?
""")
code("""
import math

k1 = None  # TODO: your code here
exercises.check(k1, math.log(0.6 / 0.3), hint="log(0.6) - log(0.3) = log 2")
""")
md("""
**2. Without the leash.** Run PPO again from a fresh model with `kl_coef=0.0` and the same
settings, then compare its final KL with ours. (About as long as the training cell.) Without the
penalty the KL is free to grow: set `kl_free` to the held-out KL of that run.
""")
code("""
kl_free = None  # TODO: train a fresh policy with dataclasses.replace(config, kl_coef=0.0), then evaluate_policy(...).kl
if kl_free is None:
    exercises.check(None)
else:
    exercises.check(kl_free, ok=kl_free > after.kl, hint="Did you train a *fresh* policy with kl_coef=0?")
""")
md("""
## Summary
* PPO fine-tunes from a **reward**, not from examples: sample, score, and push up the tokens
  with positive advantage, with the update clipped to stay near the rollout policy.
* The **KL penalty** to the reference (the same model with the LoRA adapter off) keeps the
  policy close to where it started; we asserted it stays under a bound.
* **GAE** turns one reward at the end of a reply into an advantage for every token, with a
  learnt value head as the baseline.
* The held-out reward rose; the replies show *how*: the policy learns what the reward measures.

PPO needs a reward model (or program), a value head, a reference and sampling in the loop.
Next: **19 · DPO and its relatives**, which learn from the preference pairs directly, with no
sampling and no reward model, and a DPO-vs-PPO comparison.
""")

build(cells, sys.argv[1] if len(sys.argv) > 1 else __import__('pathlib').Path(__file__).resolve().parents[1] / 'notebooks' / '18_ppo.ipynb')
