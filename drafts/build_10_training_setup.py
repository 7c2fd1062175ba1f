"""Build notebooks/10_training_setup.ipynb (run from the repository root)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", r"""
# 10 · Stage 3: training set-up

**Goal.** Before a fine-tune starts, a handful of choices decide whether it works at all: the
**optimiser** and its **learning rate**, the **learning-rate schedule** (warm-up, decay), the
**batch size** and whether it is reached by **gradient accumulation**, **gradient checkpointing**
to fit in memory, and how the hyper-parameters are **searched**. The survey's chapter 5
(arXiv 2408.13296, "Stage 3: training setup") lists them; here we measure each one, and we learn to
read the loss curves that say when a run **under-fits** or **over-fits**.

Every experiment is a short LoRA fine-tune of SmolLM2 on one task: from a product's name, predict
its shop category (`Product: Marlo Sweater\nCategory:` → ` clothing`). We compare many runs,
so each must take seconds: we train only the **top layer** and compute the frozen layers below it
once (see below).
"""),
("code", COLAB_SETUP),
("md", "## Set-up and profile"),
("code", r"""
# NBVAL_CHECK_OUTPUT
import time
import warnings

import matplotlib.pyplot as plt
import optuna
import pandas as pd
import torch

import labkit
from labkit import data, exercises, memory, models, quickrun, train

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)  # from peft
optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is too chatty here
profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", r"""
## The task and the data
`data/products.jsonl` holds 288 invented products in six categories, split into 240 for training
and 48 held out. The model sees only the product's name; the category is one token of SmolLM2's
vocabulary, so the loss of a prediction is the cross-entropy of that token over all 49,152.
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
products = data.split(data.load_jsonl("products.jsonl"))
train_rows = products["train"][: profile.pick(ci=96, cpu=240, gpu=240)]
val_rows = products["test"]

def prompts(rows):  # the model completes the category after "Category:"
    return [f"Product: {row['name']}\nCategory:" for row in rows]

def answers(rows):
    return [" " + row["category"] for row in rows]

print(f"{len(train_rows)} training and {len(val_rows)} held-out products")
print(prompts(train_rows[:1])[0] + answers(train_rows[:1])[0])
"""),
("md", r"""
### Fast runs: cache the frozen bottom, train the top
When LoRA sits only on the **top layer**, the 29 layers below it are frozen: for a given input
they give the same output in every epoch. So we run them **once** over all examples and keep the
hidden states that enter the top layer (`quickrun.cache_features`); each training step then runs
one transformer layer and the LM head instead of thirty layers. This is a standard trick
(feature caching for partial fine-tuning), and it is exact, as the next cell checks.
"""),
("code", r"""
tokenizer = models.load_tokenizer(profile.lm)
model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
start = time.perf_counter()
train_set = quickrun.cache_features(model, tokenizer, prompts(train_rows), answers(train_rows), n_top=1)
val_set = quickrun.cache_features(model, tokenizer, prompts(val_rows), answers(val_rows), n_top=1)
print(f"bottom layers run once: {time.perf_counter() - start:.1f} s; cached hidden states {tuple(train_set.hidden.shape)}")

top = quickrun.top_model(model, n_top=1)  # copy of the top layer, final norm and the (shared) LM head
tokenizer.padding_side = "left"
batch = tokenizer(prompts(val_rows[:4]), padding=True, return_tensors="pt").to(model.device)
positions = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)  # count from the first real token
with torch.no_grad():
    full = model(**batch, position_ids=positions).logits[:, -1]
    cached = quickrun.answer_logits(top, val_set, torch.arange(4))
assert torch.allclose(full, cached, atol=1e-3), "the top layer on cached states must give the full model's logits"
print(f"largest logit difference, full model vs cached bottom + top: {(full - cached).abs().max():.1e}")
"""),
("md", r"""
## Baseline
The untouched model has never seen this prompt format: it does not even answer with a category.
"""),
("code", r"""
baseline = quickrun.evaluate(top, val_set)
print(f"held-out loss {baseline['loss']:.2f}, accuracy {baseline['accuracy']:.0%}")
"""),
("md", r"""
## Optimisers: SGD, Adam, AdamW
Same LoRA (rank 8 on every linear layer of the top block), same learning rate, same batches, same
number of steps, constant schedule; only the optimiser differs.

* **SGD** moves each weight by `lr × gradient`.
* **Adam** divides by a running estimate of each gradient's size, so every weight moves by about
  `lr` per step, whatever its gradient's scale, and keeps momentum.
* **AdamW** is Adam with *decoupled* weight decay (shrink the weights directly rather than adding
  an L2 term to the gradient); it is the default of transformers and TRL. We give it a weight
  decay of 0.01 (their default is 0.0).
"""),
("code", r"""
STEPS = profile.pick(ci=30, cpu=80, gpu=80)
LR = 1e-3
lora = train.lora_config(profile, r=8, lora_alpha=16)
common = dict(steps=STEPS, learning_rate=LR, batch_size=8, eval_every=5)

optimiser_runs = {
    "SGD": quickrun.lora_run(top, lora, train_set, val_set, optimizer="sgd", **common),
    "Adam": quickrun.lora_run(top, lora, train_set, val_set, optimizer="adam", **common),
    "AdamW": quickrun.lora_run(top, lora, train_set, val_set, optimizer="adamw", weight_decay=0.01, **common),
}
pd.DataFrame({name: {"final held-out loss": c.final_val_loss, "held-out accuracy": c.val_accuracy[-1]}
              for name, c in optimiser_runs.items()}).T.round(3)
"""),
("code", r"""
fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 3.5), sharey=True)
for (name, c), style in zip(optimiser_runs.items(), ("-", "-", "--")):  # Adam and AdamW nearly coincide
    ax_train.plot(c.steps, c.train_loss, style, label=name, alpha=0.8)
    ax_val.plot(c.val_steps, c.val_loss, style, marker="o", label=name)
ax_train.set(title="training batches", xlabel="step", ylabel="loss")
ax_val.set(title="held-out", xlabel="step")
for ax in (ax_train, ax_val):
    ax.grid(alpha=0.3), ax.legend()
"""),
("code", r"""
sgd, adam, adamw = (optimiser_runs[k].final_val_loss for k in ("SGD", "Adam", "AdamW"))
assert adam < sgd - 2.0 and adamw < sgd - 2.0, "Adam/AdamW should learn far faster than SGD at the same lr"
assert adamw < baseline["loss"] / 2
print(f"held-out loss after {STEPS} steps at lr {LR:g}: SGD {sgd:.2f}, Adam {adam:.2f}, AdamW {adamw:.2f} "
      f"(baseline {baseline['loss']:.2f})")
"""),
("md", r"""
SGD at this learning rate barely moves: LoRA's gradients are small (its `B` matrix starts at
zero), and SGD's step is proportional to them. Adam normalises the step per weight, so the same
`lr` means a very different step size. That is why an "lr" is only meaningful **together with the
optimiser**; SGD would need a learning rate orders of magnitude larger (exercise 1). Adam and
AdamW are nearly identical here: weight decay matters over long runs, not 30 steps.

## Learning-rate schedules
The schedule changes the learning rate step by step. transformers' `get_scheduler` gives them by
name; drawing them costs nothing, as no model is involved.
"""),
("code", r"""
from transformers import get_scheduler

WARMUP = max(1, STEPS // 10)
schedules = {"constant": ("constant", 0), "linear": ("linear", 0), "cosine": ("cosine", 0),
             "warm-up + cosine": ("cosine", WARMUP)}

def lr_curve(name, warmup, steps=STEPS, lr=LR):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=steps)
    values = []
    for _ in range(steps):
        values.append(scheduler.get_last_lr()[0])
        optimizer.step(), scheduler.step()
    return values

lr_curves = {label: lr_curve(*spec) for label, spec in schedules.items()}
fig, ax = plt.subplots(figsize=(6, 3))
for label, values in lr_curves.items():
    ax.plot(range(1, STEPS + 1), values, label=label)
ax.set(xlabel="step", ylabel="learning rate", title="Learning-rate schedules"), ax.legend(), ax.grid(alpha=0.3);
"""),
("code", r"""
assert lr_curves["warm-up + cosine"][0] == 0.0 and max(lr_curves["warm-up + cosine"]) == LR
assert all(lr_curves[k][-1] < 0.05 * LR for k in ("linear", "cosine", "warm-up + cosine"))  # decayed to ~0
"""),
("md", r"""
Now AdamW under each schedule, at a higher peak learning rate than above, where the schedule
matters more.
"""),
("code", r"""
PEAK = 3e-3
schedule_runs = {label: quickrun.lora_run(top, lora, train_set, val_set, optimizer="adamw", weight_decay=0.01,
                                          scheduler=name, warmup_steps=warmup, **{**common, "learning_rate": PEAK})
                 for label, (name, warmup) in schedules.items()}
fig, ax = plt.subplots(figsize=(6, 3.5))
for label, c in schedule_runs.items():
    ax.plot(c.val_steps, c.val_loss, marker="o", label=label)
ax.set(xlabel="step", ylabel="held-out loss", title=f"AdamW, peak lr {PEAK:g}"), ax.legend(), ax.grid(alpha=0.3)
schedule_table = pd.DataFrame({k: {"final held-out loss": c.final_val_loss, "accuracy": c.val_accuracy[-1],
                                   "last-5 train loss": c.smoothed_train_loss()} for k, c in schedule_runs.items()}).T
schedule_table.round(3)
"""),
("code", r"""
assert all(c.final_val_loss < baseline["loss"] / 2 for c in schedule_runs.values()), "every schedule should learn"
best_schedule = schedule_table["final held-out loss"].idxmin()
print(f"best final held-out loss: {best_schedule} ({schedule_table['final held-out loss'].min():.3f})")
"""),
("md", r"""
What to take from it: decaying schedules (linear, cosine) end with small steps, which settles the
weights into a minimum rather than bouncing around it; warm-up starts with tiny steps while
Adam's gradient statistics are still rough, which protects pretrained weights from a bad first
update. On a run this short the differences are small (compare them with the gap between the
optimisers); do not read a ranking into one seed. A schedule is a second-order choice next to the
learning rate itself.

## Batch size vs gradient accumulation
A batch that does not fit in memory can be split into **micro-batches** whose gradients are added
up before one optimiser step. Each micro-batch loss is divided by the number of micro-batches, so
the sum is the gradient of the mean loss over the whole batch. We check it numerically on the
(fully trainable) top layer: one batch of 8 vs 2 micro-batches of 4.
"""),
("code", r"""
trainable = quickrun.top_model(model, n_top=1)
trainable.model.layers.requires_grad_(True)  # all weights of the top layer, not LoRA: every gradient non-zero
index = torch.arange(8)
full_batch = quickrun.gradients(trainable, train_set, index)
accumulated = quickrun.gradients(trainable, train_set, index, micro_batches=2)
largest = max((a - b).abs().max().item() for a, b in zip(full_batch, accumulated))
scale = max(g.abs().max().item() for g in full_batch)
print(f"{sum(g.numel() for g in full_batch):,} gradient entries; largest difference {largest:.1e} (largest gradient {scale:.1e})")
assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6 * scale) for a, b in zip(full_batch, accumulated))
"""),
("md", r"""
The equivalence needs every example to weigh the same in both. Here each example has one answer
token; with **token-averaged** losses over sequences of unequal length, or micro-batches of unequal
size, the average of micro-batch means is not the batch mean. A micro-batch of 3 and one of 5:
"""),
("code", r"""
def grads_of(parts, weights):
    for p in trainable.parameters():
        p.grad = None
    for part, weight in zip(parts, weights):
        (weight * quickrun.loss_on(trainable, train_set, part)).backward()
    return [p.grad.clone() for p in trainable.parameters() if p.requires_grad]

parts = (index[:3], index[3:])
naive = grads_of(parts, (1 / 2, 1 / 2))  # each micro-batch mean counts half
weighted = grads_of(parts, (3 / 8, 5 / 8))  # weight each mean by its share of the examples
err = lambda grads: max((a - b).abs().max().item() for a, b in zip(full_batch, grads)) / scale
print(f"relative error: equal weights {err(naive):.1e}, weights by size {err(weighted):.1e}")
assert err(naive) > 100 * err(weighted)
"""),
("md", r"""
So gradient accumulation reproduces a larger batch exactly when the loss is normalised by the
whole batch (same per-example weight). Trainers handle this for you (transformers counts the
tokens of all micro-batches before dividing); a hand-written loop must do it itself.

## Gradient checkpointing
Backward needs the activations of the forward pass. **Gradient checkpointing** keeps only each
layer's input and recomputes the rest during backward: less memory, about one more forward pass
of time (transformers 5 calls it *activation* checkpointing:
`model.activation_checkpointing_enable()`, formerly `gradient_checkpointing_enable()`). We measure one forward + backward of the full model (LoRA on all its layers) on one
long sequence, where activations dominate, in two ways: the bytes autograd keeps for backward
(exact) and the process's peak memory (RSS, sampled by a thread; `memory.PeakMemory`).
"""),
("code", r"""
from peft import get_peft_model

SEQ = profile.pick(ci=256, cpu=512, gpu=1024)
ids = torch.randint(100, len(tokenizer), (1, SEQ), generator=torch.Generator().manual_seed(0)).to(model.device)
lora_model = get_peft_model(model, train.lora_config(profile, r=8, lora_alpha=16))
lora_model.train()

def one_step(checkpointing: bool, ids: torch.Tensor = ids) -> dict:
    if checkpointing:
        lora_model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        lora_model.activation_checkpointing_disable()
    start = time.perf_counter()
    with memory.PeakMemory() as peak:
        loss, saved = memory.saved_for_backward(lora_model, lambda: lora_model(input_ids=ids, labels=ids, use_cache=False).loss)
        loss.backward()
    lora_model.zero_grad(set_to_none=True)
    return {"saved for backward (MiB)": saved, "peak memory (MiB)": peak.peak, "time (s)": time.perf_counter() - start}
"""),
("code", r"""
one_step(True, ids[:, :32])  # warm-up on a short input: first-call allocations belong to neither measurement
# Smaller first: on CPU the allocator keeps freed memory, which the next block may reuse.
checkpoint_table = pd.DataFrame({"checkpointing": one_step(True), "no checkpointing": one_step(False)}).T
lora_model.unload()  # the base model is back as it was
model.eval()
checkpoint_table.round(2)
"""),
("code", r"""
with_ckpt, without = checkpoint_table.loc["checkpointing"], checkpoint_table.loc["no checkpointing"]
saving = without["saved for backward (MiB)"] / with_ckpt["saved for backward (MiB)"]
peak_saving = without["peak memory (MiB)"] - with_ckpt["peak memory (MiB)"]
print(f"activations kept for backward: {saving:.1f}x fewer; peak memory {peak_saving:.0f} MiB lower; "
      f"time {with_ckpt['time (s)'] / without['time (s)']:.2f}x")
assert saving > 2.5, "checkpointing should keep far fewer activations"
assert peak_saving > 0.3 * (without["saved for backward (MiB)"] - with_ckpt["saved for backward (MiB)"])
"""),
("md", r"""
The saving grows with sequence length and batch size (activations grow with tokens; weights do
not), which is why it matters on a GPU with long sequences, and why labkit's `sft_config` leaves it
off for the short sequences of the CPU lessons: there it costs time and saves little.

## Hyper-parameter search with Optuna
Which learning rate and LoRA rank? A **grid** tries every combination; **random search** samples
them; **TPE** (Optuna's default Bayesian sampler) models which regions gave good results and
samples there more. The objective is the held-out loss after a short run. Both samplers are seeded.
"""),
("code", r"""
TRIALS = profile.pick(ci=6, cpu=12, gpu=20)
TRIAL_STEPS = profile.pick(ci=15, cpu=40, gpu=40)

def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("learning_rate", 1e-5, 3e-2, log=True)
    r = trial.suggest_categorical("r", [1, 2, 4, 8, 16])
    config = train.lora_config(profile, r=r, lora_alpha=2 * r)
    curve = quickrun.lora_run(top, config, train_set, val_set, steps=TRIAL_STEPS, learning_rate=lr,
                              weight_decay=0.01, eval_every=TRIAL_STEPS)
    return curve.final_val_loss

studies = {}
for name, sampler in {"random": optuna.samplers.RandomSampler(seed=0),
                      "TPE": optuna.samplers.TPESampler(seed=0, n_startup_trials=3)}.items():
    studies[name] = optuna.create_study(direction="minimize", sampler=sampler, study_name=name)
    studies[name].optimize(objective, n_trials=TRIALS)
pd.DataFrame({name: {"best held-out loss": s.best_value, **s.best_params} for name, s in studies.items()}).T
"""),
("code", r"""
from optuna.visualization import matplotlib as optuna_plots

for name, study in studies.items():
    ax = optuna_plots.plot_optimization_history(study)
    ax.set_title(f"Optimisation history: {name} sampler")
    ax.figure.set_size_inches(6, 3)
axes = optuna_plots.plot_slice(studies["TPE"])
axes[0].figure.set_size_inches(9, 3)
plt.style.use("default")  # optuna's plots switch matplotlib to its "ggplot" style; switch back
"""),
("code", r"""
trials = pd.concat([s.trials_dataframe()[["value", "params_learning_rate", "params_r"]].assign(sampler=n)
                    for n, s in studies.items()])
best, worst = trials["value"].min(), trials["value"].max()
print(f"{len(trials)} trials: held-out loss from {best:.2f} to {worst:.2f} (baseline {baseline['loss']:.2f})")
assert best < baseline["loss"] / 3, "the search should find a setting that learns the task"
assert worst > best + 1.0, "the search space holds settings that work and settings that do not"
trials.sort_values("value").head(5).round(4)
"""),
("md", r"""
In the slice plot, follow the loss along the learning rate: too small and nothing is learnt in a
few steps, too large and the run jumps about or diverges; compare how much the rank moves it. With only a
handful of trials, random search and TPE are hard to tell apart: TPE starts with random trials
(here `n_startup_trials=3`, the same three as the random study, as both samplers use seed 0) and
only then models where good trials lie; its advantage shows over tens of trials. In practice: search the learning rate on a log
scale first, on short runs, and spend the rest of the budget on the real run.

## Reading loss curves: under-fitting and over-fitting
Two deliberately bad runs, with the held-out loss measured often:

* **Over-fitting:** only 8 training products, a high learning rate and many steps. The model can
  memorise 8 answers; nothing forces it to learn what makes a product "kitchen".
* **Under-fitting:** all training products, but a learning rate 100× too small.
"""),
("code", r"""
tiny_train = quickrun.cache_features(model, tokenizer, prompts(train_rows[:8]), answers(train_rows[:8]), n_top=1)
overfit = quickrun.lora_run(top, lora, tiny_train, val_set, steps=profile.pick(ci=60, cpu=120, gpu=120),
                            learning_rate=1e-2, batch_size=8, eval_every=2, name="over-fitting")
underfit = quickrun.lora_run(top, lora, train_set, val_set, steps=STEPS, learning_rate=1e-5,
                             batch_size=8, eval_every=5, name="under-fitting")
fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
for ax, c in zip(axes, (overfit, underfit)):
    ax.plot(c.steps, c.train_loss, label="training batch", alpha=0.7)
    ax.plot([0] + c.val_steps, [baseline["loss"]] + c.val_loss, marker="o", label="held-out")  # step 0: untouched
    ax.set(title=c.name, xlabel="step", ylabel="loss"), ax.legend(), ax.grid(alpha=0.3)
"""),
("code", r"""
best_val = min(overfit.val_loss)
print(f"over-fitting: held-out loss min {best_val:.2f} at step {overfit.val_steps[overfit.val_loss.index(best_val)]}, "
      f"final {overfit.final_val_loss:.2f}; final training loss {overfit.smoothed_train_loss():.4f}")
print(f"under-fitting: training loss {underfit.smoothed_train_loss():.2f}, held-out {underfit.final_val_loss:.2f}")
assert overfit.final_val_loss > best_val + 0.5, "over-fitting: held-out loss rises after its minimum"
assert overfit.smoothed_train_loss() < 0.1 * overfit.final_val_loss, "over-fitting: training loss far below held-out"
assert underfit.smoothed_train_loss() > 3.0 and underfit.final_val_loss > 3.0, "under-fitting: both losses stay high"
"""),
("md", r"""
How to read them:

| pattern | diagnosis | what to change |
| --- | --- | --- |
| training ↓ to ~0, held-out ↓ then ↑ | over-fitting | more (or augmented) data, fewer steps / early stopping on the held-out loss, lower lr, smaller rank, weight decay or dropout |
| both high and flat or slowly falling | under-fitting | higher lr, more steps, larger rank or more layers trained |
| both ↓ together and level off | about right | stop where the held-out loss stops improving |

Early stopping in this over-fitting run would keep the checkpoint at the held-out minimum; that
is what `load_best_model_at_end` with an evaluation set does in transformers' `Trainer`.

## Exercises
**1.** SGD *can* learn this task with a large enough learning rate. Find one (a float) for which
SGD's held-out loss after `STEPS` steps comes within 1.0 of AdamW's from the optimiser section.
"""),
("code", r"""
answer = None  # e.g. 1.0

ok = answer is not None and quickrun.lora_run(top, lora, train_set, val_set, optimizer="sgd",
                                               **{**common, "learning_rate": answer}).final_val_loss < adamw + 1.0
exercises.check(answer, ok=ok, hint="Try learning rates a hundred to ten thousand times larger than 1e-3.")
"""),
("md", r"""
**2.** In the random-search study, which LoRA rank `r` did the best trial use?
"""),
("code", r"""
answer = None  # an int; look at studies["random"]

exercises.check(answer, studies["random"].best_params["r"], hint="studies['random'].best_params holds it.")
"""),
("md", r"""
**Going further.** Add `"num_layers"` to the search (`n_top` of 1, 2 or 3 needs its own cached
features: one cache per value), or replace the random sampler by `optuna.samplers.GridSampler`
over four learning rates and three ranks and compare how many trials each needs to reach a given
loss.

## Summary
* The learning rate only means something with its optimiser: at `lr = 1e-3` Adam/AdamW learnt
  the task in a few dozen steps while SGD hardly moved.
* Schedules (warm-up, linear or cosine decay) shape the step size over the run; they are drawn
  for free with `get_scheduler` and matter less than the peak learning rate.
* Gradient accumulation gives the gradient of the larger batch exactly when every example keeps
  its weight in the mean; checkpointing trades recompute time for activation memory.
* A search over learning rate (log scale) and rank with Optuna finds good settings in a few
  short trials and shows which hyper-parameter matters.
* Training loss alone says little: a falling training loss with a rising held-out loss is
  over-fitting; two high, flat losses are under-fitting.

Next: [11 · LoRA, QLoRA, DoRA](11_lora_qlora_dora.ipynb).
"""),
]

if __name__ == "__main__":
    print(build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "10_training_setup.ipynb"))
