"""Drafting script of notebooks/27_privacy.ipynb (tools/nbbuild.py).

Run `python drafts/build_27.py` to (re)write notebooks/27_privacy.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 27 · Privacy

**Goal.** The survey (arXiv 2408.13296, §12.2) names privacy as an open challenge of fine-tuning:
a model can remember, and give back, the data it was tuned on. Three measured lessons on the
course's ticket-routing task and on SmolLM2:

1. **DP-SGD with Opacus.** Clip each example's gradient, add Gaussian noise, and let an
   accountant count the privacy spent (ε at a stated δ). Accuracy at ε ≈ 1, 3, 8 and without DP:
   the privacy–utility curve.
2. **Memorisation, measured.** Random canaries ("Ana's PIN is 4-7-1.") are put into the fine-tuning
   data k times; their **exposure** (Carlini et al.'s secret-sharer test) without and with DP, and
   an extraction attempt by prompting.
3. **Federated fine-tuning of LoRA adapters.** Clients with different data fine-tune LoRA
   adapters (peft) locally and only send those and the head; **FedAvg** averages them. Federated vs
   centralised vs each client alone, and the bytes each round sends.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import math
import warnings

import numpy as np
import torch

import labkit
from labkit import data, exercises, models
from labkit.privacy import canaries, dp, federated
from labkit.seeding import shifted

warnings.filterwarnings("ignore", module="opacus")  # Opacus warns that secure_mode is off: fine for a lesson
profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", """
## The task and its baseline
`data/tickets.jsonl` (card: `data/tickets.md`) holds support tickets routed to five departments.
MiniLM embeds every ticket once (frozen); only a linear head is trained, so per-sample gradients
are cheap and many DP epochs fit in seconds. The baseline is the same head trained with plain SGD.
"""),
("code", """
rows = data.load_jsonl("tickets.jsonl")
LABELS = sorted({r["label"] for r in rows})
train_rows, test_rows = [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"]
encoder = models.load_sentence_encoder(profile.encoder, device=profile.device)
embed = lambda rs: np.asarray(encoder.encode([r["text"] for r in rs], normalize_embeddings=True, batch_size=64))
X_train, X_test = embed(train_rows), embed(test_rows)
y_train = np.array([LABELS.index(r["label"]) for r in train_rows])
y_test = np.array([LABELS.index(r["label"]) for r in test_rows])
EPOCHS, DELTA = profile.pick(ci=20, cpu=40, gpu=40), 1e-3  # delta below 1/n: n = len(train_rows)
baseline = dp.train_head(X_train, y_train, len(LABELS), epochs=EPOCHS, seed=shifted(0))
print(f"{len(train_rows)} train / {len(test_rows)} test tickets, {len(LABELS)} departments")
print(f"no DP: test accuracy {baseline.accuracy(X_test, y_test):.3f}")
"""),
("md", """
## DP-SGD: clip, add noise, count
Opacus' `PrivacyEngine.make_private_with_epsilon` wraps the head, its optimizer and its data
loader: batches are drawn by Poisson sampling, each example's gradient is clipped to norm
`max_grad_norm`, Gaussian noise of standard deviation `noise_multiplier × max_grad_norm` is added
to their sum, and the noise multiplier is chosen so that the planned epochs spend the target ε.
Afterwards we ask the **accountant** (Rényi DP) what was actually spent: that is the ε we report,
not the number we asked for.
"""),
("code", """
runs = {}
for target in (1.0, 3.0, 8.0):
    runs[target] = dp.train_head(X_train, y_train, len(LABELS), epochs=EPOCHS, target_epsilon=target, delta=DELTA,
                                 seed=shifted(0))
    r = runs[target]
    print(f"target eps {target:>3}: noise multiplier {r.noise_multiplier:.2f}, accountant eps {r.epsilon:.2f} "
          f"at delta {r.delta:g}, test accuracy {r.accuracy(X_test, y_test):.3f}")
accuracy = {eps: r.accuracy(X_test, y_test) for eps, r in runs.items()} | {math.inf: baseline.accuracy(X_test, y_test)}
"""),
("code", """
assert all(abs(r.epsilon - eps) < 0.1 * eps for eps, r in runs.items()), "the accountant's eps should match the target"
assert runs[1.0].noise_multiplier > runs[3.0].noise_multiplier > runs[8.0].noise_multiplier
assert accuracy[1.0] < accuracy[8.0] - 0.03, f"more privacy should cost accuracy: {accuracy}"
assert accuracy[1.0] < accuracy[3.0] and accuracy[3.0] <= accuracy[8.0] + 0.02, accuracy
assert accuracy[1.0] < accuracy[math.inf] - 0.05 and accuracy[8.0] > accuracy[math.inf] - 0.08, accuracy
"""),
("code", """
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(6, 3.4))
eps = [1.0, 3.0, 8.0]
ax.plot(eps, [accuracy[e] for e in eps], "o-", label="DP-SGD (Opacus)")
ax.axhline(accuracy[math.inf], color="C1", ls="--", label="no DP")
ax.set(xscale="log", xticks=eps, xticklabels=[f"{e:g}" for e in eps], xlabel=f"epsilon at delta={DELTA:g}",
       ylabel="test accuracy", title="privacy-utility curve: ticket routing head")
ax.legend()
plt.tight_layout()
"""),
("md", """
The curve above rises with ε: a smaller ε needs a larger noise multiplier, and the head learns
less through the noise. ε bounds how much any *one* ticket can change what the model does
(at most a factor e^ε in the probability of any outcome, up to δ). Note that the encoder was not
trained here: the guarantee covers what the head learnt from the training tickets.

## Memorisation: canaries and their exposure
Now a language model. We fine-tune SmolLM2 on short ticket texts into which three **canaries**
are inserted k times each: a name and a random three-digit PIN. The trainable part is a LoRA on
the LM head, trained over the frozen model's cached hidden states (a small trainable part keeps
per-sample gradients, and so DP, cheap on a CPU; `labkit.privacy.canaries` explains the design).

**Exposure** ranks the true PIN among all 1,000 possible PINs by the model's log-likelihood of
"<name>'s PIN is d-d-d": exposure = log2(1000) − log2(rank). A PIN the model never saw scores
about 1 bit on average; a memorised one ranks first, log2(1000) ≈ 9.97 bits.
"""),
("code", """
tokenizer = models.load_tokenizer(profile.lm)
lm = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device).eval()
K, N_TICKETS = 4, profile.pick(ci=16, cpu=48, gpu=48)
secrets = canaries.make_canaries(["Ana", "Omar", "Mei"], digits=3, seed=shifted(0))
texts = [r["text"] for r in train_rows[:N_TICKETS]] + [c.text for c in secrets for _ in range(K)]
lm_data = canaries.cache_training_data(lm, tokenizer, texts, max_length=20)
candidates = [canaries.candidate_cache(lm, tokenizer, c) for c in secrets]
exposure = lambda lora: np.array([canaries.exposure(canaries.candidate_scores(cc, lm.lm_head, lora), c.secret)
                                  for cc, c in zip(candidates, secrets)])
before = exposure(None)
print(f"{len(texts)} training texts: {N_TICKETS} tickets + {len(secrets)} canaries x {K}")
print("canaries:", [c.text for c in secrets])
print(f"exposure before fine-tuning (bits): {np.round(before, 2)}")
"""),
("md", """
Fine-tune twice with the same data, epochs and learning rate: once plainly, once with DP-SGD at
ε = 3 (Opacus again; each training text is one example, its gradient clipped as a whole).
"""),
("code", """
LM_EPOCHS = profile.pick(ci=5, cpu=10, gpu=10)
plain_lora, _ = canaries.train_lora_head(lm_data, epochs=LM_EPOCHS, lr=1e-2, seed=shifted(0))
dp_lora, lm_eps = canaries.train_lora_head(lm_data, epochs=LM_EPOCHS, lr=1e-2, target_epsilon=3.0, delta=DELTA,
                                           seed=shifted(0))
after_plain, after_dp = exposure(plain_lora), exposure(dp_lora)
print(f"exposure without DP (bits): {np.round(after_plain, 2)}, mean {after_plain.mean():.2f}")
print(f"exposure with DP, accountant eps {lm_eps:.2f}: {np.round(after_dp, 2)}, mean {after_dp.mean():.2f}")
"""),
("code", """
assert after_plain.mean() > before.mean() + 3, f"plain fine-tuning should memorise the canaries: {before} -> {after_plain}"
assert after_plain.mean() > after_dp.mean() + 2.5, f"DP should lower exposure: {after_plain} vs {after_dp}"
assert after_dp.mean() < before.mean() + 2.5, f"with DP the canaries should stay near the prior: {before} -> {after_dp}"
"""),
("md", """
**An extraction attempt.** The attacker knows a name and asks the model to continue "<name>'s PIN is"
greedily. The table below shows what each model says and whether the continuation contains a PIN
of the training data.
"""),
("code", """
leaked = {}
for name, lora in (("base model", None), ("fine-tuned, no DP", plain_lora), ("fine-tuned, DP eps 3", dp_lora)):
    said = [canaries.extract(lm, tokenizer, c.prefix, lora) for c in secrets]
    leaked[name] = sum(any("-".join(map(str, s.secret)) in out for s in secrets) for out in said)
    print(f"{name:22}", " | ".join(f"{c.prefix} ->{out!r}" for c, out in zip(secrets, said)))
print("continuations that contain a training PIN:", leaked)
"""),
("code", """
fig, ax = plt.subplots(figsize=(7, 3.4))
x = np.arange(len(secrets))
for shift, (name, values) in zip((-0.27, 0, 0.27), (("before", before), ("no DP", after_plain), ("DP eps 3", after_dp))):
    ax.bar(x + shift, values, width=0.27, label=name)
ax.axhline(math.log2(1000), color="black", lw=0.8, ls=":")
ax.set_xticks(x, [c.prefix for c in secrets]), ax.legend()
ax.set(ylabel="exposure (bits)", title=f"canary exposure, each canary {K}x in the data")
plt.tight_layout()
"""),
("md", """
Without DP a few repetitions are enough for the LoRA to push the true PINs towards the top of the
1,000 candidates (read the exposures printed above), and greedy prompting gives training PINs back;
with DP each text's influence on every step is clipped and drowned in noise, so the canaries stay
much closer to where the pretrained model put them. DP bounds memorisation of *every* example, rare secrets
included, which data scrubbing (notebook 07) cannot promise for the secrets it misses.

## Federated fine-tuning of LoRA adapters with FedAvg
Five clients (say, five offices) each hold tickets of only two departments: non-identical data.
They never share tickets. Each client fine-tunes the same **LoRA adapters** (peft, on MiniLM's
attention query and value projections) and a classification head; each round the server sends
the trainable weights, each client takes a few SGD steps on its own data, and the server averages
what comes back, weighted by each client's number of examples. That average is all of FedAvg:
"""),
("code", """
def fedavg_by_hand(states, sizes):
    total = sum(sizes)
    return {k: sum(s[k] * (n / total) for s, n in zip(states, sizes)) for k in states[0]}


clients = federated.label_skew_split(y_train, n_clients=5, labels_per_client=2, seed=shifted(0))
for i, idx in enumerate(clients):
    print(f"client {i}: {len(idx):3} tickets, departments {sorted({LABELS[j] for j in y_train[idx]})}")
states = [{"w": torch.randn(3, 2)} for _ in clients]  # any weights: the two must agree
assert torch.allclose(fedavg_by_hand(states, [len(c) for c in clients])["w"],
                      federated.fedavg(states, [len(c) for c in clients])["w"])
"""),
("md", """
The adapters sit in MiniLM's **last** layer (peft's LoRA on `query` and `value`), the head on its
sentence embedding. The five layers below are frozen, so they compute the same thing in every
round: each client runs them once over its tickets and keeps what enters the last layer
(`federated.top_layer_inputs`). A training step then costs one layer instead of six, and nothing
is approximated: the check below compares the sentence embeddings computed from that cache with
those of the whole encoder (sentence-transformers, above).
"""),
("code", """
from peft import set_peft_model_state_dict

bert = models.load_model(profile.encoder, kind="encoder")  # the same MiniLM, as a transformers BertModel (fp32)
bert_tokenizer = models.load_tokenizer(profile.encoder)
S_train = federated.top_layer_inputs(bert, bert_tokenizer, [r["text"] for r in train_rows])
S_test = federated.top_layer_inputs(bert, bert_tokenizer, [r["text"] for r in test_rows])
yt, y_te = torch.as_tensor(y_train), torch.as_tensor(y_test)
server = federated.lora_classifier(bert, len(LABELS), r=8, seed=shifted(0))
with torch.no_grad():  # LoRA's B starts at zero: the adapted layer computes what the frozen one does
    cached = server.get_base_model().embed(S_test[list(range(len(test_rows)))]).numpy()
print(f"trainable: {models.parameter_count(server, trainable_only=True):,} parameters (LoRA r=8 on query and value "
      f"of the last layer, and the head) of MiniLM's {models.parameter_count(bert):,}")
print(f"sentence embeddings from the cache vs the whole encoder: max difference {np.abs(cached - X_test).max():.1e}")
assert np.abs(cached - X_test).max() < 1e-4, "the cached last layer must compute the encoder's own embeddings"
"""),
("code", """
ROUNDS, STEPS, LR, BATCH = profile.pick(ci=8, cpu=20, gpu=20), 3, 0.5, 16  # STEPS: local SGD steps per round
sizes = [len(idx) for idx in clients]
worker = federated.lora_classifier(bert, len(LABELS), r=8, seed=shifted(0))  # plays each client in turn
fed_curve = []
for rnd in range(ROUNDS):
    sent = federated.trainable_state(server)  # server -> clients: adapters and head, nothing else
    states = []
    for i, idx in enumerate(clients):
        set_peft_model_state_dict(worker, sent)
        states.append(federated.local_train(worker, S_train.subset(idx), yt[idx], epochs=1, lr=LR, batch_size=BATCH,
                                            max_steps=STEPS, seed=shifted(rnd * 10 + i)))
    set_peft_model_state_dict(server, federated.fedavg(states, sizes))  # clients -> server, averaged
    fed_curve.append(federated.accuracy(server, S_test, y_te))
print("federated accuracy per round:", np.round(fed_curve, 3))
"""),
("md", """
The two baselines get the same adapters, head and number of SGD steps: **centralised** training
pools every ticket in one place (what federated learning avoids) and takes as many steps as all
clients together; **each client alone** takes as many steps as it did in the federation, on its own
two departments only.
"""),
("code", """
central_model = federated.lora_classifier(bert, len(LABELS), r=8, seed=shifted(0))
federated.local_train(central_model, S_train, yt, epochs=ROUNDS, lr=LR, batch_size=BATCH,
                      max_steps=ROUNDS * STEPS * len(clients), seed=shifted(0))
central = federated.accuracy(central_model, S_test, y_te)
alone = []
for i, idx in enumerate(clients):
    own = federated.lora_classifier(bert, len(LABELS), r=8, seed=shifted(i))
    federated.local_train(own, S_train.subset(idx), yt[idx], epochs=ROUNDS, lr=LR, batch_size=BATCH,
                          max_steps=ROUNDS * STEPS, seed=shifted(i))
    alone.append(federated.accuracy(own, S_test, y_te))
print(f"on the union's test set: federated {fed_curve[-1]:.3f}, centralised {central:.3f}, "
      f"each client alone {np.round(alone, 3)}")
"""),
("code", """
best_alone = max(alone)
assert fed_curve[-1] > best_alone + 0.25, f"FedAvg should beat every client alone: {fed_curve[-1]} vs {alone}"
assert fed_curve[-1] - best_alone > 0.7 * (central - best_alone), \\
    f"FedAvg should close most of the gap from one client to centralised training: {fed_curve[-1]} vs {central}"
"""),
("code", """
update = federated.trainable_state(server)
sent = federated.state_bytes(update)
full = sum(p.numel() * p.element_size() for p in bert.parameters()) + federated.state_bytes(
    {k: v for k, v in update.items() if ".head." in k})  # the whole model: encoder and head
print(f"per client and round: adapters + head {sent:,} B ({len(update)} tensors) vs full model {full:,} B, "
      f"{full / sent:,.0f}x more")
print(f"all {ROUNDS} rounds, {len(clients)} clients, both directions: {2 * ROUNDS * len(clients) * sent / 1e6:.2f} MB "
      f"vs {2 * ROUNDS * len(clients) * full / 1e9:.1f} GB")
assert sum(t.numel() for t in update.values()) == models.parameter_count(server, trainable_only=True), \\
    "what travels is exactly what trains"
assert full > 1000 * sent, (sent, full)
"""),
("code", """
fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(range(1, ROUNDS + 1), fed_curve, "o-", label="FedAvg (LoRA + head)")
ax.axhline(central, color="C1", ls="--", label="centralised"), ax.axhline(best_alone, color="C2", ls=":", label="best client alone")
ax.set(xlabel="round", ylabel="test accuracy (union)", title="federated fine-tuning of LoRA adapters"), ax.legend()
plt.tight_layout()
"""),
("md", """
Each client alone only knows its two departments and fails on the rest; FedAvg comes close to
centralised training without any ticket leaving its client, and each round only sends the
adapters and the head: kilobytes instead of the full weights (the numbers above). Two notes.
Averaging LoRA's A and B separately is not the average of the products B·A that each client
learnt, one reason federated LoRA methods differ (some freeze A, some average the products). And
federated learning alone is not private: the updates themselves can leak data, which is why it is
combined with DP (clip and noise each client's update) and secure aggregation.

**Why not Flower?** Flower (`flwr`) runs the same loop with clients and a server as processes; its
simulation engine needs Ray (`flwr[simulation]`), a heavy dependency for two CPU cores and not part
of the course environment. FedAvg is a few lines, so labkit writes them out (`labkit.privacy.federated`,
with tests); on a cluster, the same `fedavg` is what Flower's FedAvg strategy computes.

## Exercises
**1. Exposure by hand.** A canary's true PIN ranks 4th among the 1,000 candidates. What is its exposure in bits?
"""),
("code", """
exposure_rank_4 = None  # TODO: log2(#candidates) - log2(rank)
exercises.check(exposure_rank_4, math.log2(1000) - 2, hint="log2(4) = 2; log2(1000) is about 9.97.", tolerance=1e-3)
"""),
("md", """
**2. Fewer repetitions.** Rebuild `lm_data` with each canary inserted once (`K = 1`) and retrain
`plain_lora`: does the mean exposure without DP stay above the DP run's (`after_dp`, each canary
4x)? Answer `True` or `False`; the check below runs the same K = 1 fine-tune and compares.
"""),
("code", """
k1_still_higher = None  # TODO: exposure(plain LoRA trained with K = 1).mean() > after_dp.mean()
keep = list(range(N_TICKETS)) + [N_TICKETS + K * j for j in range(len(secrets))]  # the tickets, each canary once
k1_data = torch.utils.data.TensorDataset(*(t[keep] for t in lm_data.tensors))  # one cached row per training text
k1_lora, _ = canaries.train_lora_head(k1_data, epochs=LM_EPOCHS, lr=1e-2, seed=shifted(0))
exercises.check(k1_still_higher, bool(exposure(k1_lora).mean() > after_dp.mean()),
                hint="Keep the tickets and one copy of each canary, train without target_epsilon, compare the means.")
"""),
("md", """
## Summary
* **DP-SGD** (Opacus): per-example clipping plus calibrated Gaussian noise; the accountant reports
  the ε actually spent at δ. Accuracy rises with ε: privacy has a price in utility, read off the curve.
* **Canary exposure** measures memorisation directly: a few repetitions of a secret in the
  fine-tuning data make it rank at the top, and prompting extracts it; DP keeps exposure near
  that of a secret never seen.
* **FedAvg** over LoRA adapters lets clients with different data fine-tune together without
  sharing data, far better than each alone and most of the way to centralised training; only the
  adapters and the head travel each round.

Next: **28 · Ethics and accountability**.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "27_privacy.ipynb")
