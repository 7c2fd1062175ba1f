"""Builds notebooks/20_evaluation.ipynb (survey §7.1-7.7). Run: python drafts/build_20.py"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 20 · Stage 5: evaluation

**Goal.** Measure one fine-tune many ways and see where the measures disagree (survey §7.1–7.7):
reference metrics (perplexity, exact match, token F1, ROUGE-L, BLEU, embedding similarity) for a
base and a LoRA-tuned SmolLM2 on held-out Veloria questions; multiple choice by log-likelihood with
and without per-character normalisation (`acc` vs `acc_norm`, as lm-evaluation-harness scores);
an LLM-as-judge with its agreement (Cohen's κ) and its position bias; and calibration (ECE) before
and after temperature scaling. On the `gpu` profile the same cells run a larger model; a real
evaluation would use lm-evaluation-harness benchmarks and a strong judge (e.g. GPT-4-class or
Prometheus), named here and not downloaded.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import random

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import sacrebleu
from rouge_score import rouge_scorer

import labkit
from labkit import data, evaluate, exercises, models, plots, train
from labkit.evaluation import agreement, calibration, choice, text_metrics

profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", """
## 1 · A model to evaluate: a short LoRA fine-tune on Veloria
We repeat notebook 02's fine-tune: SmolLM2 learns facts about the invented country Veloria from
question–answer pairs and is tested on held-out *paraphrases* of those questions, which the base
model cannot know.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
questions = data.load_jsonl("veloria_questions.jsonl", schema="qa")
all_facts = list(dict.fromkeys(row["fact"] for row in questions))
facts = set(all_facts[::profile.pick(ci=4, cpu=1, gpu=1)])
split = data.split([row for row in questions if row["fact"] in facts])
train_qa, test_qa = split["train"], split["test"]
print(f"{len(facts)} facts: {len(train_qa)} training questions, {len(test_qa)} held-out paraphrases")
"""),
("code", """
tokenizer = models.load_tokenizer(profile.lm)
model = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
base_copy = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
steps = profile.pick(ci=10, cpu=20, gpu=60)
tuned, result = train.train_sft(base_copy, tokenizer, data.to_dataset(data.qa_to_chat(train_qa)), profile,
                                train.run_dir("20_evaluation"), max_steps=steps, learning_rate=2e-3)
print(f"{result.steps} LoRA steps in {result.runtime_s:.0f} s")
"""),
("md", """
## 2 · Reference-based metrics
Each metric compares a reply with the gold answer differently: **exact match** (after SQuAD
normalisation, does the reply contain the answer), **token F1** (word overlap), **ROUGE-L** (longest
common subsequence), **BLEU** (n-gram precision with a brevity penalty, over the corpus), and
**cosine similarity** of MiniLM sentence embeddings (meaning, roughly). **Perplexity** of the gold
answer given the question needs no generation at all.
"""),
("code", """
test_questions = [row["question"] for row in test_qa]
gold = [row["answer"] for row in test_qa]
encoder = models.load_sentence_encoder(profile.encoder, device=profile.device)
rouge = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def reference_metrics(m):
    \"\"\"Every reference metric for one model's greedy replies to the held-out questions.\"\"\"
    replies = evaluate.generate(m, tokenizer, test_questions, max_new_tokens=24)
    prompts = [data.chat_prompt(tokenizer, q) for q in test_questions]
    emb_r = encoder.encode(replies, normalize_embeddings=True)
    emb_g = encoder.encode(gold, normalize_embeddings=True)
    return replies, {
        "perplexity": evaluate.completion_perplexity(m, tokenizer, prompts, gold),
        "exact-match": evaluate.match_rate(replies, gold),
        "token F1": text_metrics.mean_token_f1(replies, gold),
        "ROUGE-L": float(np.mean([rouge.score(g, r)["rougeL"].fmeasure for r, g in zip(replies, gold)])),
        "BLEU": sacrebleu.corpus_bleu(replies, [gold]).score / 100,
        "cosine": float(np.mean(np.sum(emb_r * emb_g, axis=1))),
    }


base_replies, base_scores = reference_metrics(model)
tuned_replies, tuned_scores = reference_metrics(tuned)
table = pd.DataFrame({"base": base_scores, "LoRA": tuned_scores}).round(3)
table
"""),
("code", """
for name in ["exact-match", "token F1", "ROUGE-L"]:
    assert tuned_scores[name] > base_scores[name] + 0.15, (name, base_scores[name], tuned_scores[name])
assert tuned_scores["perplexity"] < base_scores["perplexity"] / 2, table
fig, ax = plt.subplots(figsize=(8, 3.4))
table.drop(index="perplexity").plot.bar(ax=ax, rot=0)
ax.set(ylabel="score (higher is better)", title="Base vs LoRA on held-out Veloria paraphrases")
ax.set_ylim(0, 1.05)
plt.tight_layout()
"""),
("md", """
The metrics do not agree on the size of the gap, and BLEU can even disagree on the direction: its
corpus 4-gram precision finds nothing to count when every answer is shorter than four words, so
a test set of short, exactly right answers can score a BLEU near zero (with longer answers in the set,
as in the `cpu` profile, it recovers). Corpus BLEU was made for long translations, not short answers.
Per example, too, the measures can part ways: a long reply that contains the answer scores EM 1 but
low F1; a reply that names the wrong place in the right phrasing keeps a high cosine similarity.
Below, each held-out reply with its exact match, token F1 and cosine side by side.
"""),
("code", """
rows = [(name, r, g, evaluate.answer_in(r, g), text_metrics.token_f1(r, g),
         float(np.dot(*encoder.encode([r, g], normalize_embeddings=True))))
        for name, replies in [("base", base_replies), ("LoRA", tuned_replies)] for r, g in zip(replies, gold)]
side = pd.DataFrame(rows, columns=["model", "reply", "gold", "EM", "F1", "cosine"]).round(2)
disagree = side[(side["EM"] & (side["F1"] < 0.5)) | (~side["EM"] & (side["cosine"] > 0.5))]
print(f"{len(disagree)} of {len(side)} replies where EM and F1 or cosine disagree")
side.iloc[::2]
"""),
("md", """
## 3 · Multiple choice by log-likelihood: `acc` vs `acc_norm`
Benchmarks such as MMLU or HellaSwag are scored without generation: the model's summed
log-probability of each option's tokens, given the question, picks the answer (`acc`). Long options
pay for every extra token, so the harness also reports `acc_norm`, the log-probability divided by the
option's characters. Our 30 hand-written questions (`data/eval_mc.jsonl`) mix one-word and long options.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
mc = data.load_jsonl("eval_mc.jsonl")
print(len(mc), "questions,", len(mc[0]["options"]), "options each; e.g.", mc[6]["question"], mc[6]["options"])
"""),
("code", """
def mc_prompt(question):
    return f"Question: {question}\\nAnswer:"


mc_logprobs = [choice.option_logprobs(model, tokenizer, mc_prompt(r["question"]), [" " + o for o in r["options"]])
               for r in mc]
acc_picks = [choice.pick(lp, r["options"]) for lp, r in zip(mc_logprobs, mc)]
norm_picks = [choice.pick(lp, r["options"], normalise="char") for lp, r in zip(mc_logprobs, mc)]
labels = [r["answer"] for r in mc]
acc, acc_norm = evaluate.accuracy(acc_picks, labels), evaluate.accuracy(norm_picks, labels)
changed = [i for i, (a, b) in enumerate(zip(acc_picks, norm_picks)) if a != b]
print(f"acc {acc:.2f}, acc_norm {acc_norm:.2f} (chance {1 / 4:.2f}); normalisation changes {len(changed)} picks:")
for i in changed:
    r = mc[i]
    print(f"  {r['question']}  acc: {r['options'][acc_picks[i]]!r}  acc_norm: {r['options'][norm_picks[i]]!r}"
          f"  gold: {r['options'][r['answer']]!r}")
"""),
("code", """
assert len(changed) >= 2, changed
assert max(acc, acc_norm) > 0.25 + 0.25, (acc, acc_norm)
"""),
("md", """
## 4 · LLM-as-judge, and how to check a judge
A judge model reads a question, the reference answer and a candidate, and says whether they match.
We read its verdict from the next-token logits of `Yes` and `No` (no sampling). Before trusting a
judge, measure it against labels you trust: here the candidates are the base and LoRA replies of
section 2, labelled by exact match. Cohen's κ corrects raw agreement for what a judge that always
says the same thing would get. A second judge, MiniLM cosine similarity between reply and reference
(≥ 0.5 counts as a match), is measured on the same pairs.
"""),
("code", """
judge_rows = [(q, g, r, int(evaluate.answer_in(r, g)))
              for replies in (base_replies, tuned_replies) for q, g, r in zip(test_questions, gold, replies)]
judge_labels = [y for *_, y in judge_rows]
yes_id, no_id = tokenizer.encode("Yes")[0], tokenizer.encode("No")[0]
judge_prompts = [data.chat_prompt(tokenizer, f"Question: {q}\\nReference answer: {g}\\nCandidate answer: {c}\\n"
                                             "Does the candidate answer match the reference answer? Answer Yes or No.")
                 for q, g, c, _ in judge_rows]
logits = evaluate.next_token_logits(model, tokenizer, judge_prompts).float()
margin = (logits[:, yes_id] - logits[:, no_id]).numpy()
llm_verdicts = [int(m > 0) for m in margin]
llm_balanced = [int(m > np.median(margin)) for m in margin]  # the same judge with its Yes/No bias removed
cosines = np.sum(encoder.encode([r for *_, r, _ in judge_rows], normalize_embeddings=True)
                 * encoder.encode([g for _, g, *_ in judge_rows], normalize_embeddings=True), axis=1)
cosine_verdicts = [int(c >= 0.5) for c in cosines]
judges = {name: (evaluate.accuracy(v, judge_labels), agreement.cohen_kappa(v, judge_labels), np.mean(v))
          for name, v in [("SmolLM2 Yes/No", llm_verdicts), ("SmolLM2, median threshold", llm_balanced),
                          ("MiniLM cosine ≥ 0.5", cosine_verdicts)]}
print(f"{len(judge_rows)} judged replies, {sum(judge_labels)} of them correct by exact match")
pd.DataFrame(judges, index=["accuracy", "Cohen's κ", "says match"]).T.round(2)
"""),
("md", """
A judge can also prefer a position. Asked which of two answers to a general-knowledge question is
right (the true answer and another question's), with the order swapped on a second pass, a
position-blind judge would flip its letter whenever the order flips.
"""),
("code", """
gk = data.load_jsonl("general_knowledge.jsonl")
gk = gk[:profile.pick(ci=24, cpu=len(gk), gpu=len(gk))]
ab_prompt = "Question: {q}\\nAnswer A: {a}\\nAnswer B: {b}\\nWhich answer is correct? Reply A or B."
wrong = [gk[(i + 7) % len(gk)]["answer"] for i in range(len(gk))]
a_id, b_id = tokenizer.encode("A")[0], tokenizer.encode("B")[0]


def ab_verdicts(first, second):
    \"\"\"0 when the judge picks answer A, 1 for B.\"\"\"
    texts = [data.chat_prompt(tokenizer, ab_prompt.format(q=r["question"], a=x, b=y)) for r, x, y in zip(gk, first, second)]
    out = evaluate.next_token_logits(model, tokenizer, texts).float()
    return (out[:, b_id] > out[:, a_id]).int().tolist()


right = [r["answer"] for r in gk]
order1, order2 = ab_verdicts(right, wrong), ab_verdicts(wrong, right)
flips = agreement.flip_rate(order1, order2)
first = agreement.first_position_rate(order1 + order2)
ab_acc = (order1.count(0) + order2.count(1)) / (2 * len(gk))
print(f"A/B judge: accuracy {ab_acc:.2f}, picks position A {first:.0%} of the time, "
      f"verdict flips with the order on {flips:.0%} of pairs")
"""),
("code", """
kappa_llm, kappa_cosine = judges["SmolLM2 Yes/No"][1], judges["MiniLM cosine ≥ 0.5"][1]
assert kappa_cosine > 0.6 and kappa_cosine > kappa_llm + 0.4, judges  # validated: one judge works, one does not
assert first > 0.7, first  # and the A/B judge mostly picks whichever answer comes first
"""),
("md", """
**Reading the result.** The 135M-parameter model is no judge: its verdicts agree with the labels
little better than a constant would, and when it compares two answers it mostly names the first.
The embedding judge is crude (it cannot tell a near-miss from a hit) but on these pairs it agrees
with exact match. Real evaluations use a strong judge model (GPT-4-class, Prometheus) and still
check it this way: κ against human labels, and both orders of every pair.
"""),
("md", """
## 5 · Calibration: is the model's confidence its accuracy?
Softmax over the options' log-likelihoods turns multiple-choice scores into probabilities. A
calibrated model right 70 % of the time when 70 % sure has expected calibration error (ECE) near 0.
We generate single-digit sums (`What is 3 plus 4?`, four digit options), so every option is one
token and one forward of the prompt scores all four (`choice.single_token_logprobs`). Temperature
scaling divides the scores by one number *T*, fitted by likelihood on half of the questions and
applied to the other half, then the other way round, so no question is scored by a *T* fitted on
it. It changes confidence, never the pick.
"""),
("code", """
def sum_question(rng, n_options=4):
    \"\"\"A generated question whose answer and distractors are the digits 1-9.\"\"\"
    a = rng.randint(1, 8)
    b = rng.randint(1, 9 - a)
    options = [a + b] + rng.sample([x for x in range(1, 10) if x != a + b], n_options - 1)
    rng.shuffle(options)
    return f"Question: What is {a} plus {b}?\\nAnswer: ", [str(o) for o in options], options.index(a + b)


rng = random.Random(0)  # a fixed question set, like the course data files
sums = [sum_question(rng) for _ in range(profile.pick(ci=200, cpu=400, gpu=400))]
scores = np.array(choice.single_token_logprobs(model, tokenizer, [p for p, _, _ in sums], [o for _, o, _ in sums]))
sum_labels = np.array([y for *_, y in sums])
correct = scores.argmax(1) == sum_labels
halves = np.arange(len(sums)) % 2
conf_before, conf_after, temperatures = calibration.softmax(scores).max(1), np.zeros(len(sums)), []
for fold in (0, 1):
    temperatures.append(calibration.fit_temperature(scores[halves == fold], sum_labels[halves == fold]))
    conf_after[halves != fold] = calibration.softmax(scores[halves != fold], temperatures[-1]).max(1)
ece_before, ece_after = calibration.ece(conf_before, correct), calibration.ece(conf_after, correct)
print(f"{len(sums)} sums, accuracy {correct.mean():.2f} (chance 0.25); fitted T = {temperatures[0]:.2f}, {temperatures[1]:.2f}")
print(f"mean confidence {conf_before.mean():.2f} -> {conf_after.mean():.2f}; ECE {ece_before:.3f} -> {ece_after:.3f}")
"""),
("code", """
assert conf_before.mean() > correct.mean() + 0.1, (conf_before.mean(), correct.mean())  # over-confident
assert min(temperatures) > 1.2, temperatures  # so the fitted temperature softens the softmax
assert ece_after < ece_before - 0.05, (ece_before, ece_after)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
edges = np.linspace(0, 1, 11)
for ax, conf, name in zip(axes, [conf_before, conf_after], ["before (T = 1)", "after temperature scaling"]):
    bins = np.clip(np.digitize(conf, edges) - 1, 0, 9)
    filled = [b for b in range(10) if (bins == b).any()]
    ax.bar([edges[b] + 0.05 for b in filled], [correct[bins == b].mean() for b in filled], width=0.09, label="accuracy")
    ax.plot([0, 1], [0, 1], "k--", label="perfect calibration")
    ax.set(xlabel="confidence", title=f"Reliability {name}", xlim=(0, 1))
axes[0].set_ylabel("accuracy in bin")
axes[0].legend(loc="upper left")
plt.tight_layout()
"""),
("md", """
**Reading the result.** The model is *over*-confident on sums: the bars sit below the diagonal.
One temperature above 1, fitted on the other half, flattens the softmax and brings confidence down
toward accuracy, and ECE falls (printed above). It works because both halves come from one kind of
question; fitted on a mix of kinds (say, general knowledge and arithmetic), one *T* cannot suit both,
and ECE on held-out questions can rise. Fit the temperature on data like the data it will score.
"""),
("md", """
## Exercises
**1. Token F1 by hand.** The reply `"It is the Amber Gate"` against the gold `"the Amber Gate of Veloria"`:
after SQuAD normalisation (lower case, no articles or punctuation) count the shared words, then
precision, recall and their harmonic mean.
"""),
("code", """
f1_by_hand = None  # TODO: a float
if f1_by_hand is None:
    exercises.check(None)
else:
    exercises.check(f1_by_hand, text_metrics.token_f1("It is the Amber Gate", "the Amber Gate of Veloria"),
                    hint="Shared words: amber, gate. Precision 2/4 (it, is, amber, gate), recall 2/3.", tolerance=1e-3)
"""),
("md", """
**2. ECE with fewer bins.** Compute the held-out ECE after temperature scaling with 5 bins instead of
10 (`calibration.ece(..., n_bins=5)`). Coarser bins average over-confident and under-confident
predictions together: is it lower or higher?
"""),
("code", """
ece_5_bins = None  # TODO
if ece_5_bins is None:
    exercises.check(None)
else:
    exercises.check(ece_5_bins, calibration.ece(conf_after, correct, n_bins=5), hint="Use conf_after and correct.",
                    tolerance=1e-6)
"""),
("md", """
## Summary
* Reference metrics agree that the LoRA model beats the base on held-out paraphrases, but they weigh
  the gap differently and disagree on single replies: read several, and read examples.
* Log-likelihood multiple choice needs no generation; dividing by the option's length (`acc_norm`)
  changes picks whenever option lengths differ, so report which one you use.
* Validate a judge before trusting it: against labels (κ), and with both orders of every pair. The
  small model as judge fails both checks; a plain embedding similarity passes the first.
* Confidence is not accuracy (ECE); one fitted temperature corrects an over-confident model on
  held-out questions of the same kind.

Next: [21 · Safety evaluation](21_safety_evaluation.ipynb).
"""),
]

if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "notebooks" / "20_evaluation.ipynb"
    build(cells, out)
