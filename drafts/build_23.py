"""Draft of notebook 23 (monitoring and maintenance); run: .venv/bin/python drafts/build_23.py"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", r"""
# 23 · Stage 7: monitoring and maintenance

**Goal.** A fine-tuned model is deployed; the work is not over. The survey (arXiv 2408.13296, §9)
names what stage 7 watches: the *inputs* (do users still ask what the model was tuned for?), the
*outputs* (is quality holding up?) and the *knowledge* (are the facts it answers with still true?).
We build each check on a logged request stream:

* **the log**: one JSON line per request (`time`, `prompt`, `reply`, `latency_s`), the shape
  notebook 22's server writes;
* **drift**: a two-sample test (MMD, with a permutation p-value) on MiniLM embeddings of the
  prompts, a reference window against later windows; it must stay quiet on an unshifted window and
  fire on a shifted one;
* **a quality alert**: CUSUM on graded answers, which must fire after quality drops and not before;
* **a knowledge update**: some facts change; we fix them by re-tuning a LoRA adapter and by
  refreshing a RAG index, and compare accuracy and cost side by side.
"""),
("code", COLAB_SETUP),
("md", "## Set-up and profile"),
("code", r"""
# NBVAL_CHECK_OUTPUT
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import labkit
from labkit import data, evaluate, exercises, models, seeding, train
from labkit.monitoring import alerts, drift, traffic, updates
from labkit.rag import retrieval
from labkit.tasks import tickets

profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", r"""
## The log
A real log comes from a server (notebook 22 writes one). Here a generator in
`labkit.monitoring.traffic` draws requests from course data so we *know* where things change.
For its first part, users ask about Veloria (`data/veloria_questions.jsonl`) and about product
prices (`data/products.jsonl`); from request `SHIFT_AT` on, the product questions give way to
support tickets (`labkit.tasks.tickets`). The replies are the answer key's, wrong for a small share
of requests (`error_rate`), as if from a good but imperfect served model; latencies are simulated.
The Veloria facts we watch are a fixed subset: those that will change later, and as many that will not.
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
questions = data.load_jsonl("veloria_questions.jsonl", schema="qa")
changes = updates.load_updates()[:profile.pick(ci=4, cpu=6, gpu=6)]
changed_facts = [u["fact"] for u in changes]
all_facts = list(dict.fromkeys(q["fact"] for q in questions))
kept_facts = [f for f in all_facts if f not in changed_facts][::5][:len(changed_facts)]
watched = [q for q in questions if q["fact"] in changed_facts + kept_facts]
print(f"{len(changed_facts)} facts will change, {len(kept_facts)} will not; {len(watched)} questions about them")
print("changing:", ", ".join(changed_facts))
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
products = data.load_jsonl("products.jsonl")
support = tickets.make_tickets(200, seed=0)
pools = {
    "veloria": [(q["question"], q["answer"]) for q in watched],
    "products": [(f"How much does the {p['name']} cost?", f"${p['price']:.2f}") for p in products],
    "tickets": [(t["text"], f"Routed to {t['label']}.") for t in support],
}
print({topic: len(pairs) for topic, pairs in pools.items()})
"""),
("code", r"""
N_REQUESTS, SHIFT_AT = profile.pick(ci=600, cpu=1200, gpu=1200), profile.pick(ci=300, cpu=600, gpu=600)
records, topics = traffic.make_traffic(
    before={"veloria": pools["veloria"], "products": pools["products"]},
    after={"veloria": pools["veloria"], "tickets": pools["tickets"]},
    n=N_REQUESTS, shift_at=SHIFT_AT, seed=seeding.shifted(0), error_rate=0.1)
log_path = train.run_dir("23_monitoring") / "requests.jsonl"
traffic.write_log(records, log_path)
log = traffic.read_log(log_path)
print(f"{len(log)} requests logged to {log_path.name}; shift at request {SHIFT_AT}")
log[0]
"""),
("md", r"""
Reading the log back checks every line: a monitor that silently skipped a damaged line would compute
its statistics on a stream other than the one that was served. A line cut off in mid-write, for example:
"""),
("code", r"""
broken = log_path.with_name("broken.jsonl")
broken.write_text(log_path.read_text().replace("\n", "\n" + '{"time": "2026-01-05T09:00:01", "prompt": "Hi', 1))
try:
    traffic.read_log(broken)
except labkit.errors.DataError as error:
    message = str(error)
print(message.replace(str(broken.parent) + "/", ""))
assert f"{broken.name}:2" in message, "the error should name the file and the bad line"
"""),
("code", r"""
frame = pd.DataFrame(log).assign(topic=topics)
frame["part"] = np.where(frame.index < SHIFT_AT, "before shift", "after shift")
frame.groupby("part", sort=False)["topic"].value_counts().unstack(fill_value=0)
"""),
("md", r"""
## Embedding the prompts
Drift detectors compare *distributions*, and raw text has none we can test directly; so each prompt
becomes a 384-number MiniLM embedding (`profile.encoder`), the same encoder RAG uses. Nothing here
looks at the topic labels: they only mark the truth in the plots.
"""),
("code", r"""
encoder = models.load_sentence_encoder(profile.encoder, device=profile.device)
start = time.perf_counter()
embeddings = encoder.encode([r["prompt"] for r in log], batch_size=64)
print(f"{embeddings.shape[0]} prompts -> {embeddings.shape[1]}-d embeddings in {time.perf_counter() - start:.1f} s")
"""),
("md", r"""
## The baseline window and the drift test
The first `WINDOW` requests are the **reference**: what traffic looked like when the model was
tuned and checked. Each later window is compared with it by the **maximum mean discrepancy** (MMD):
with a kernel $k$, $\mathrm{MMD}^2 = \mathbb{E}\,k(x, x') + \mathbb{E}\,k(y, y') - 2\,\mathbb{E}\,k(x, y)$,
zero when both samples come from the same distribution. We use an RBF kernel whose width is the
median pairwise distance (the *median heuristic*). Written out once, on the pooled kernel matrix:
"""),
("code", r"""
def mmd2(kernel, n_x):
    # unbiased: drop each point's similarity with itself (the diagonal) from the within-sample means
    kxx, kyy, kxy = kernel[:n_x, :n_x], kernel[n_x:, n_x:], kernel[:n_x, n_x:]
    n_y = len(kernel) - n_x
    return ((kxx.sum() - np.trace(kxx)) / (n_x * (n_x - 1)) + (kyy.sum() - np.trace(kyy)) / (n_y * (n_y - 1))
            - 2 * kxy.mean())

WINDOW = profile.pick(ci=100, cpu=150, gpu=150)
reference, unshifted, shifted = (embeddings[s:s + WINDOW] for s in (0, SHIFT_AT - WINDOW, SHIFT_AT))
pooled = np.concatenate([reference, shifted])
kernel = drift.rbf_kernel(pooled, drift.median_bandwidth(pooled))
print(f"MMD² reference vs shifted window: {mmd2(kernel, WINDOW):.4f}")
assert abs(mmd2(kernel, WINDOW) - drift.mmd2_from_kernel(kernel, WINDOW)) < 1e-9, "labkit's MMD² should agree"
"""),
("md", r"""
Is that large? A number alone says nothing; the **permutation test** calibrates it. If the two
windows came from one distribution, which request sits in which window would not matter: so we
shuffle the pooled requests many times, split them again and recompute MMD². The p-value is the share
of shuffles at least as extreme as the real split, $(1 + \#\{\text{null} \ge \text{observed}\}) / (1 + B)$.
Under no drift it is uniform, so declaring drift at $p < \alpha$ raises a false alarm with probability $\alpha$.
`drift.mmd_test` does all of it.
"""),
("code", r"""
ALPHA, PERMUTATIONS = 0.01, 500
quiet = drift.mmd_test(reference, unshifted, PERMUTATIONS, seed=seeding.shifted(1))
loud = drift.mmd_test(reference, shifted, PERMUTATIONS, seed=seeding.shifted(2))
pd.DataFrame({"window": [f"{SHIFT_AT - WINDOW}-{SHIFT_AT - 1} (unshifted)", f"{SHIFT_AT}-{SHIFT_AT + WINDOW - 1} (shifted)"],
              "MMD²": [quiet.statistic, loud.statistic], "p-value": [quiet.p_value, loud.p_value],
              f"alarm at α={ALPHA}": [quiet.alarm(ALPHA), loud.alarm(ALPHA)]}).round(4)
"""),
("md", "## Asserted: an alarm on the shifted window, none on the unshifted one"),
("code", r"""
assert not quiet.alarm(ALPHA), f"false alarm on an unshifted window: p = {quiet.p_value:.3f} < {ALPHA}"
assert loud.alarm(ALPHA), f"missed the shift: p = {loud.p_value:.3f} >= {ALPHA}"
assert loud.statistic > 5 * max(quiet.statistic, 1e-4), "the shifted window should be far more different"
print(f"unshifted p = {quiet.p_value:.3f}, shifted p = {loud.p_value:.4f} (smallest possible {1 / (PERMUTATIONS + 1):.4f})")
"""),
("md", r"""
## Drift over the stream
In production the test runs on every new window. Sliding windows of `WINDOW` requests, every
half-window, each tested against the reference:
"""),
("code", r"""
later = embeddings[WINDOW:]
sliding = drift.sliding_tests(reference, later, WINDOW, step=WINDOW // 2, permutations=PERMUTATIONS,
                              seed=seeding.shifted(3))
ends = np.array([WINDOW + s + WINDOW for s, _ in sliding])  # the window's last request: when it can be tested
p_values = np.array([r.p_value for _, r in sliding])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.4))
ax1.plot(ends, [r.statistic for _, r in sliding], marker="o"); ax1.set_ylabel("MMD²")
ax2.semilogy(ends, p_values, marker="o"); ax2.axhline(ALPHA, color="red", ls=":", label=f"α = {ALPHA}")
ax2.set_ylabel("permutation p-value"); ax2.legend()
for ax in (ax1, ax2):
    ax.axvline(SHIFT_AT, color="grey", ls="--"); ax.set_xlabel("request (window end); dashed: the shift")
plt.tight_layout()
"""),
("code", r"""
clean = p_values[ends <= SHIFT_AT]            # windows entirely before the shift
after = p_values[ends - WINDOW >= SHIFT_AT]   # windows entirely after it
print(f"{len(clean)} clean windows, smallest p {clean.min():.3f}; {len(after)} shifted windows, largest p {after.max():.4f}")
assert (clean >= ALPHA).all() and (after < ALPHA).all(), "every clean window quiet, every shifted window alarmed"
"""),
("md", r"""
The windows that straddle the shift hold a mixture and the p-value falls as more of the new topic
enters: the detector's **delay** is a fraction of a window. A smaller window reacts faster but has
less power; a larger one the reverse.

## A quality alert
Drift says the inputs changed, not that the answers got worse. For quality we need graded
requests: a share of traffic checked against an answer key (in practice human spot checks or user
feedback). Here the Veloria questions can be graded. Partway through the stream, some facts change
in the world (`changes`), and the served model keeps giving the old answers.
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
CHANGE_AT = profile.pick(ci=450, cpu=900, gpu=900)
fact_of = {q["question"]: q["fact"] for q in watched}
new_answer = {u["fact"]: u["answer"] for u in changes}
graded = [(i, r) for i, r in enumerate(log) if r["prompt"] in fact_of]
gold_now = {q["question"]: q["answer"] for q in watched}
print(f"{len(graded)} graded requests; the facts change at request {CHANGE_AT}")
"""),
("code", r"""
def correct(i, record):
    # the truth at request i: a changed fact's new answer from CHANGE_AT on, the original one before
    fact = fact_of[record["prompt"]]
    gold = new_answer[fact] if i >= CHANGE_AT and fact in new_answer else gold_now[record["prompt"]]
    return evaluate.answer_in(record["reply"], gold)

at = np.array([i for i, _ in graded])
errors = np.array([0.0 if correct(i, r) else 1.0 for i, r in graded])
print(f"error rate before the change {errors[at < CHANGE_AT].mean():.0%}, after {errors[at >= CHANGE_AT].mean():.0%}")
"""),
("md", r"""
A rolling mean of correctness is the chart a dashboard shows, but a fixed threshold on a noisy
rolling mean either fires late or fires by chance. **CUSUM** accumulates evidence instead: each error
adds `1 - SLACK`, each correct answer subtracts `SLACK`, the sum never goes below zero, and the alarm
fires when it passes `THRESHOLD`. With `SLACK` between the normal and the bad error rate, the sum
hovers near zero while quality is normal and climbs once it drops.
"""),
("code", r"""
SLACK, THRESHOLD, ROLLING = 0.3, 5.0, 30
path, fired = alerts.cusum(errors, SLACK, THRESHOLD)
rolling = alerts.rolling_mean(1 - errors, ROLLING)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 3.4))
ax1.plot(at, rolling); ax1.set_ylabel(f"answer-match, last {ROLLING} graded")
ax2.plot(at, path); ax2.axhline(THRESHOLD, color="red", ls=":", label="threshold"); ax2.set_ylabel("CUSUM")
if fired is not None:
    ax2.axvline(at[fired], color="red", label="alarm")
for ax in (ax1, ax2):
    ax.axvline(CHANGE_AT, color="grey", ls="--"); ax.set_xlabel("request; dashed: facts change")
ax2.legend(); plt.tight_layout()
"""),
("code", r"""
assert fired is not None, "the quality alert should fire after the facts change"
delay = at[fired] - CHANGE_AT
assert 0 < delay <= 120, f"the alert should fire soon after the drop and not before, fired at {delay:+d} requests"
assert path[at < CHANGE_AT].max() < THRESHOLD - 1, "before the change CUSUM should stay well below the threshold"
print(f"alert at request {at[fired]}: {delay} requests ({fired + 1 - (at < CHANGE_AT).sum()} graded ones) after the change")
"""),
("md", r"""
## A knowledge update: re-tune or refresh?
The alert says *what* went wrong: answers about facts that changed. The changed facts, as the
knowledge base now states them:
"""),
("code", r"""
# NBVAL_CHECK_OUTPUT
articles = data.load_jsonl("veloria.jsonl", schema={"title": str, "text": str})
new_articles, changed_titles = updates.apply_to_articles(articles, changes)
new_questions = updates.apply_to_questions(watched, changes)
for u in changes[:2]:
    print(f"{u['article']}: {u['old_sentence']}\n  -> {u['new_sentence']}")
print(f"{len(changed_titles)} of {len(articles)} articles changed")
"""),
("md", r"""
We score each system on questions about the watched facts: each fact's held-out paraphrase plus
training questions (one in `ci`, all three in `cpu` and `gpu`), all with the updated answers. What
matters after an update is whether the system now *holds* the new value. Changed and unchanged facts are scored apart, because an update that fixes
the new facts and breaks the old ones is no fix.
"""),
("code", r"""
tokenizer = models.load_tokenizer(profile.lm)
model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
by_fact = {}
for q in new_questions:
    by_fact.setdefault(q["fact"], []).append(q)
PER_FACT = profile.pick(ci=2, cpu=4, gpu=4)  # held-out paraphrase first, then training questions
eval_rows = [q for rows in by_fact.values() for q in sorted(rows, key=lambda q: q["split"] != "test")[:PER_FACT]]
is_changed = np.array([q["fact"] in new_answer for q in eval_rows])
prompts, gold = [q["question"] for q in eval_rows], [q["answer"] for q in eval_rows]

def scores(replies):
    # answer-match on the changed and on the unchanged facts, against the updated answers
    hits = np.array([evaluate.answer_in(r, g) for r, g in zip(replies, gold)])
    return hits[is_changed].mean(), hits[~is_changed].mean()
"""),
("md", r"""
**(b) first, the old RAG index.** The deployed RAG system embedded the articles as they were
(notebook 02); it answers the changed facts with the old values.
"""),
("code", r"""
def titled(a):
    return f"{a['title']}. {a['text']}"

old_index = retrieval.Retriever.build(encoder.encode, [titled(a) for a in articles], [a["title"] for a in articles])
def rag_answers(index):
    return evaluate.generate(model, tokenizer, [retrieval.rag_prompt(q, index.retrieve(q, k=1)) for q in prompts],
                             max_new_tokens=16)
old_changed, old_kept = scores(rag_answers(old_index))
print(f"old index: changed facts {old_changed:.0%}, unchanged facts {old_kept:.0%}")
"""),
("md", r"""
**Refreshing the index** re-embeds only the articles that changed and overwrites their rows:
"""),
("code", r"""
start = time.perf_counter()
rows = [i for i, a in enumerate(new_articles) if a["title"] in changed_titles]
embeddings_new = old_index.embeddings.copy()
embeddings_new[rows] = retrieval.Retriever.build(encoder.encode, [titled(new_articles[i]) for i in rows]).embeddings
new_index = retrieval.Retriever(encoder.encode, [titled(a) for a in new_articles], old_index.sources, embeddings_new)
refresh_s = time.perf_counter() - start
rag_changed, rag_kept = scores(rag_answers(new_index))
print(f"refreshed {len(rows)} rows in {refresh_s:.3f} s: changed facts {rag_changed:.0%}, unchanged {rag_kept:.0%}")
"""),
("md", r"""
**(a) Re-tuning a LoRA adapter** on the updated facts: the training questions with their current
answers, loss on the answers only (`labkit.train.train_sft`). We train a fresh adapter on the whole
updated set; continuing the old adapter would also have to *unlearn* the old values.
"""),
("code", r"""
train_rows = [q for q in new_questions if q["split"] == "train"]
train_set = data.to_dataset(data.qa_to_chat(train_rows))
steps = profile.pick(ci=10, cpu=30, gpu=60)
base = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)  # peft wraps it in place
tuned, result = train.train_sft(base, tokenizer, train_set, profile, train.run_dir("23_retune"),
                                max_steps=steps, learning_rate=2e-3)
lora_changed, lora_kept = scores(evaluate.generate(tuned, tokenizer, prompts, max_new_tokens=16))
print(f"{result.steps} steps in {result.runtime_s:.0f} s on {len(train_rows)} questions: "
      f"changed facts {lora_changed:.0%}, unchanged {lora_kept:.0%}")
"""),
("md", "## The two updates side by side"),
("code", r"""
pd.DataFrame({
    "changed facts": [old_changed, rag_changed, lora_changed],
    "unchanged facts": [old_kept, rag_kept, lora_kept],
    "update time (s)": [0.0, refresh_s, result.runtime_s],
    "weights trained": [0, 0, result.trainable_parameters],
    "documents re-embedded": [0, len(rows), 0],
}, index=["old RAG index (no update)", "(b) RAG refresh", "(a) LoRA re-tune"]).round(3)
"""),
("code", r"""
assert old_changed <= 0.25, f"the old index should still give the old answers, scored {old_changed:.0%}"
assert rag_changed >= old_changed + 0.5, f"the refresh should fix the changed facts: {rag_changed:.0%}"
assert lora_changed >= old_changed + 0.5, f"re-tuning should fix the changed facts: {lora_changed:.0%}"
assert rag_kept >= old_kept - 0.15, f"the refresh should not break unchanged facts: {rag_kept:.0%} vs {old_kept:.0%}"
assert result.runtime_s >= 20 * refresh_s, f"the refresh should be far cheaper: {refresh_s:.3f} s vs {result.runtime_s:.0f} s"
print(f"the refresh cost {result.runtime_s / refresh_s:.0f}x less time than re-tuning")
"""),
("md", r"""
Both updates fix the changed facts. The RAG refresh touches a handful of rows of a matrix and no
weights; re-tuning trains millions of adapter weights and takes far longer, and this gap grows with
the model, since indexing cost depends only on the encoder. Re-tuning has its place when the change is
a *behaviour* (a new format, a new task) rather than a *fact*; for facts that change, keep them
where they can be edited.

## Exercises
**1. When does drift first show?** Find the end (request number, from `ends`) of the first sliding
window whose p-value falls below `ALPHA`.
"""),
("code", r"""
first_alarm_end = None  # TODO: your code here, using ends and p_values
expected_end = int(ends[np.argmax(p_values < ALPHA)])
exercises.check(first_alarm_end, expected_end, hint="np.argmax on a boolean array finds its first True.")
"""),
("md", r"""
**2. A more cautious alert.** Run `alerts.cusum` with `THRESHOLD = 8` on the same `errors`. How many
requests after `CHANGE_AT` does it fire now? (A higher threshold means fewer false alarms and a longer delay.)
"""),
("code", r"""
delay_at_8 = None  # TODO: your code here, using alerts.cusum(errors, SLACK, 8.0) and at
_, fired_8 = alerts.cusum(errors, SLACK, 8.0)
exercises.check(delay_at_8, int(at[fired_8] - CHANGE_AT) if fired_8 is not None else None,
                hint="cusum returns (path, index of the first alarm); at[index] is its request number.")
"""),
("md", r"""
## Summary
* A request log with fixed fields (`time`, `prompt`, `reply`, `latency_s`) is the raw material of
  monitoring; read it strictly, so a damaged line names its file and line instead of vanishing.
* **Input drift** is a two-sample question: MMD with an RBF kernel (median heuristic) on MiniLM
  embeddings, calibrated by a permutation test, stayed quiet on an unshifted window and fired on the
  shifted one at α = 0.01, with a delay of a fraction of a window.
* **Quality** needs graded traffic; CUSUM on errors fired soon after the facts changed and never
  before, where a threshold on a rolling mean would be noisier.
* **A knowledge update** is cheapest where knowledge lives outside the weights: refreshing a few
  rows of the RAG index fixed the changed facts in a fraction of the time that re-tuning a LoRA
  adapter took.
* With the `gpu` profile the same checks run on a bigger model; in production, tools in the style of
  Evidently, Alibi Detect or WhyLabs run such drift tests and dashboards on logged traffic.

Next: **24 · Platforms and scaling**.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "23_monitoring.ipynb")
