"""The survey's seven-stage fine-tuning pipeline (ch. 2), driven by one run config.

Stages, each leaving an artefact in its own folder of the run folder:

1. ``data``        cleaned train/test JSONL and the counts of what cleaning removed
2. ``model``       ``model_card.json``: name, parameters, dtype, special tokens, chat template
3. ``setup``       ``resolved_config.yaml``: the config with profile defaults filled in (and the
                   training seed the run used: ``training.seed`` moved by ``$LABKIT_SEED``), and
                   the TRL ``SFTConfig`` and peft ``LoraConfig`` built from it
4. ``finetune``    the LoRA adapter (and the trainer's checkpoints)
5. ``evaluation``  ``metrics.json``: held-out answer perplexity and answer-match, base model vs tuned
6. ``export``      the adapter merged into the base model, saved with its tokenizer and reloaded
                   to check that it answers like the adapter model
7. ``monitoring``  a record appended to a JSON-lines log, with a regression check against the base
                   model and the previous record

The data may be question/answer, prompt/completion or chat records (``data.schema``). A chat
conversation is trained with the loss on every assistant turn (``data.chat_dataset``) and evaluated
on its last user turn, asked with the turns before it, against its final assistant turn.

A stage is finished when its folder holds ``done.json``; a re-run skips finished stages, and an
interrupted fine-tune resumes from its last checkpoint (``labkit.train.train_sft`` does that).
Every artefact is written whole or not at all (:mod:`labkit.atomic`), so a full disk or an
interruption leaves nothing half-written for the re-run to trust. :func:`check` finds what can be
known before training: the config's keys and values, whether the model is here, every data record,
and whether anything is left to train and test on after cleaning.
From Python: ``run_pipeline("configs/pipeline_example.yaml")``; from a shell:
``labkit pipeline run configs/pipeline_example.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import yaml

from labkit import atomic, data, evaluate, models, train
from labkit.errors import ConfigError, DataError, ModelError, disk_errors
from labkit.pipeline.runconfig import PipelineConfig, load_config, resolve_data_file, with_profile
from labkit.profiles import Profile, profile as get_profile

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pipeline_example.yaml"
STAGES = ("data", "model", "setup", "finetune", "evaluation", "export", "monitoring")
DONE = "done.json"


@dataclass
class Run:
    """One pipeline run: its resolved config, profile and folder, and the objects stages share."""

    config: PipelineConfig  # with the profile's defaults filled in
    profile: Profile
    folder: Path
    _cache: dict = field(default_factory=dict, repr=False)

    def stage_dir(self, stage: str) -> Path:
        path = self.folder / f"{STAGES.index(stage) + 1}_{stage}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def tokenizer(self):
        if "tokenizer" not in self._cache:
            self._cache["tokenizer"] = models.load_tokenizer(self.config.model.name)
        return self._cache["tokenizer"]

    def base_model(self):
        """A fresh copy of the base model (training changes the one it is given)."""
        return models.load_model(self.config.model.name, dtype=self.config.model.dtype, device=self.profile.device)

    def records(self, split: str) -> list[dict]:
        """The data stage's cleaned records: conversations for the chat schema, else prompt/completion."""
        schema = "chat" if self.config.data.schema == "chat" else "prompt-completion"
        return data.load_jsonl(self.stage_dir("data") / f"{split}.jsonl", schema=schema)


@dataclass
class PipelineResult:
    """What a call of :func:`run_pipeline` did."""

    folder: Path
    ran: list[str]
    skipped: list[str]
    summaries: dict[str, dict]

    def artefact(self, stage: str) -> Path:
        return self.folder / f"{STAGES.index(stage) + 1}_{stage}"


# ---- stage 1: data preparation ---------------------------------------------------------------

def _normalised(record: dict, schema: str, split_field: str) -> dict:
    """One record with whitespace-normalised texts, marked "test" if held out.

    qa and prompt-completion records become ``prompt``/``completion``; chat records keep their
    ``messages``, every turn normalised.
    """
    held_out = "test" if record.get(split_field) == "test" else None
    if schema == "chat":
        return {"messages": [{"role": m["role"], "content": " ".join(m["content"].split())} for m in record["messages"]],
                "split": held_out}
    prompt, completion = (record["question"], record["answer"]) if schema == "qa" else (record["prompt"], record["completion"])
    return {"prompt": " ".join(prompt.split()), "completion": " ".join(completion.split()), "split": held_out}


def _turns(record: dict) -> list[tuple[str, str]]:
    """A record's (role, text) turns: a conversation's messages, or the prompt as user and the completion as assistant."""
    if "messages" in record:
        return [(m["role"], m["content"]) for m in record["messages"]]
    return [("user", record["prompt"]), ("assistant", record["completion"])]


def question(record: dict) -> str:
    """The question a held-out record asks: the prompt, or a conversation's last user turn."""
    return [text for role, text in _turns(record) if role == "user"][-1]


def clean(records: list[dict], max_chars: int) -> tuple[list[dict], dict]:
    """Drop too-long records and exact duplicates (after whitespace normalisation); count each.

    A record's length is the characters of all its turns (prompt + answer for qa). Two copies on
    either side of the split are not duplicates but a leak: both stay, for :func:`prepare_data`'s
    leak check to count, whichever comes first in the file."""
    kept, seen, counts = [], set(), {"too_long": 0, "duplicates": 0}
    for record in records:
        turns = _turns(record)
        key = (record.get("split") == "test", tuple((role, text.lower()) for role, text in turns))
        if sum(len(text) for _, text in turns) > max_chars:
            counts["too_long"] += 1
        elif key in seen:
            counts["duplicates"] += 1
        else:
            seen.add(key)
            kept.append(record)
    return kept, counts


def _split(records: list[dict], config) -> tuple[list[dict], list[dict]]:
    if any(r.get("split") == "test" for r in records):
        return [r for r in records if r.get("split") != "test"], [r for r in records if r.get("split") == "test"]
    shuffled = records[:]
    random.Random(config.training.seed).shuffle(shuffled)
    n_test = max(1, round(len(shuffled) * config.data.test_fraction))
    return shuffled[n_test:], shuffled[:n_test]


def prepare_data(config: PipelineConfig) -> tuple[list[dict], list[dict], dict]:
    """Stage 1 in memory: the cleaned train and test records and the counts; nothing is written.

    A held-out question that a training record also asks is a leak (it inflates the score). By
    default the held-out record is dropped (``test_also_in_train``); with
    ``data.dedupe_against_test`` the training records that ask it are dropped instead
    (``train_also_in_test``), so the test set stays whole. If that, or cleaning, leaves either side
    empty, there is nothing to run: a DataError.
    """
    cfg, base = config.data, Path(config.source).parent if config.source else None
    train_file = resolve_data_file(cfg.train_file, base)
    raw = [_normalised(r, cfg.schema, cfg.split_field) for r in data.load_jsonl(train_file, schema=cfg.schema)]
    if cfg.test_file:
        test_raw = [{**_normalised(r, cfg.schema, cfg.split_field), "split": "test"}
                    for r in data.load_jsonl(resolve_data_file(cfg.test_file, base), schema=cfg.schema)]
        raw = [{**r, "split": None} for r in raw] + test_raw
    cleaned, counts = clean(raw, cfg.max_chars)
    train_set, test_set = _split(cleaned, config)
    # a held-out question that training also asks (in any user turn) would measure memory, not generalisation
    repeats = 0
    if cfg.dedupe_against_test:
        test_questions = {question(r).lower() for r in test_set}
        kept = [r for r in train_set if not any(role == "user" and text.lower() in test_questions
                                                for role, text in _turns(r))]
        repeats, train_set = len(train_set) - len(kept), kept
    train_questions = {text.lower() for r in train_set for role, text in _turns(r) if role == "user"}
    leaked = [r for r in test_set if question(r).lower() in train_questions]
    test_set = [r for r in test_set if r not in leaked]
    counts = {"raw": len(raw), **counts, **({"train_also_in_test": repeats} if cfg.dedupe_against_test else {}),
              "test_also_in_train": len(leaked), "train": len(train_set), "test": len(test_set)}
    if not train_set or not test_set:
        side = "training" if not train_set else "held-out"
        why = ", ".join(f"{key.replace('_', ' ')}: {counts[key]}" for key in ("duplicates", "too_long", "train_also_in_test",
                                                                             "test_also_in_train")
                        if counts.get(key))
        raise DataError(f"after cleaning no {side} record is left ({counts['train']} train, {counts['test']} test"
                        + (f"; dropped {why}" if why else "") + ")", str(train_file),
                        "add records; hold out questions that are not also training questions "
                        "(data.test_file, the split field, or data.test_fraction); raise data.max_chars if records were too long")
    return train_set, test_set, counts


def stage_data(run: Run) -> dict:
    train_set, test_set, counts = prepare_data(run.config)
    folder = run.stage_dir("data")
    data.save_jsonl([{**r, "split": "train"} for r in train_set], folder / "train.jsonl")
    data.save_jsonl([{**r, "split": "test"} for r in test_set], folder / "test.jsonl")
    atomic.write_json(folder / "counts.json", counts, indent=2)
    return counts


# ---- stage 2: model initialisation -----------------------------------------------------------

def stage_model(run: Run) -> dict:
    tokenizer, model = run.tokenizer(), run.base_model()
    card = {
        "name": run.config.model.name,
        "source": "built in memory" if run.config.model.name == models.TINY_LLAMA else models.model_path(run.config.model.name),
        "architecture": model.config.model_type,
        "parameters": models.parameter_count(model),
        "dtype": run.config.model.dtype,
        "weights_mb": round(sum(p.nbytes for p in model.parameters()) / 1e6, 1),
        "special_tokens": {k: getattr(tokenizer, k) for k in ("bos_token", "eos_token", "pad_token")},
        "padding_side": tokenizer.padding_side,
        "chat_template": bool(tokenizer.chat_template),
        "vocab_size": len(tokenizer),
    }
    if not card["chat_template"]:
        raise ModelError("has no chat template; the pipeline fine-tunes chat models", f"key 'model.name' ({card['name']!r})",
                         f"use an instruct (chat) model, e.g. {models.SMOLLM2}")
    atomic.write_json(run.stage_dir("model") / "model_card.json", card, indent=2)
    return {"parameters": card["parameters"], "dtype": card["dtype"]}


# ---- stage 3: training set-up ----------------------------------------------------------------

def _configs(run: Run):
    t = run.config.training
    sft = train.sft_config(run.profile, run.stage_dir("finetune") / "checkpoints", max_steps=t.max_steps,
                           learning_rate=t.learning_rate, per_device_train_batch_size=t.per_device_train_batch_size,
                           max_length=t.max_length, seed=t.seed)
    lo = run.config.lora
    lora = train.lora_config(run.profile, r=lo.r, lora_alpha=lo.lora_alpha, lora_dropout=lo.lora_dropout,
                             target_modules=lo.target_modules)
    return sft, lora


def _plain(values: dict) -> dict:
    """Config objects as YAML-safe data (sets, enums and paths become lists and strings)."""
    return json.loads(json.dumps(values, default=lambda v: sorted(v) if isinstance(v, set) else str(v)))


def stage_setup(run: Run) -> dict:
    sft, lora = _configs(run)
    resolved = {"pipeline": run.config.to_dict(), "sft_config": _plain(sft.to_dict()), "lora_config": _plain(lora.to_dict())}
    path = run.stage_dir("setup") / "resolved_config.yaml"
    atomic.write_text(path, yaml.safe_dump(resolved, sort_keys=False))
    return {"max_steps": sft.max_steps, "learning_rate": sft.learning_rate, "lora_r": lora.r}


# ---- stage 4: fine-tuning --------------------------------------------------------------------

def stage_finetune(run: Run) -> dict:
    from transformers import set_seed as seed_everything

    sft, lora = _configs(run)
    records, system = run.records("train"), run.config.data.system_prompt
    if run.config.data.schema == "chat":  # pre-tokenised, every assistant turn in the loss
        dataset = data.chat_dataset(run.tokenizer(), records, system)
    else:  # conversational prompt/completion: TRL puts the loss on the completion
        dataset = data.to_dataset(data.qa_to_chat(
            [{"question": r["prompt"], "answer": r["completion"]} for r in records], system))
    t = run.config.training
    seed_everything(t.seed)  # the resolved seed, already moved by $LABKIT_SEED: seeded as is, not shifted again
    tuned, result = train.train_sft(run.base_model(), run.tokenizer(), dataset, run.profile, sft.output_dir, lora=lora,
                                    live_plot=False, max_steps=t.max_steps, learning_rate=t.learning_rate,
                                    per_device_train_batch_size=t.per_device_train_batch_size,
                                    max_length=t.max_length, seed=t.seed)
    folder = run.stage_dir("finetune")
    with atomic.staged_folder(folder / "adapter") as staging:
        tuned.save_pretrained(staging)
    atomic.write_json(folder / "losses.json", result.losses)
    return {"steps": result.steps, "final_loss": round(result.final_loss, 4), "runtime_s": round(result.runtime_s, 1),
            "trainable_parameters": result.trainable_parameters, "resumed_from": result.resumed_from}


# ---- stage 5: evaluation ---------------------------------------------------------------------

def _tuned_model(run: Run):
    from peft import PeftModel

    return PeftModel.from_pretrained(run.base_model(), run.stage_dir("finetune") / "adapter").eval()


def held_out_turn(record: dict, system: str | None = None) -> tuple[list[dict], str]:
    """What a held-out record asks and its gold answer: the conversation up to its last user turn
    (the assistant's reply left open) and the final assistant turn; a prompt/completion record is a
    one-question conversation."""
    if "messages" in record:
        return data.with_system(record["messages"][:-1], system), record["messages"][-1]["content"]
    return data.with_system([{"role": "user", "content": record["prompt"]}], system), record["completion"]


def _measure(model, run: Run, test: list[dict]) -> tuple[dict, list[str]]:
    tokenizer, system = run.tokenizer(), run.config.data.system_prompt
    asked = [held_out_turn(r, system) for r in test]
    prompts = [data.conversation_prompt(tokenizer, conversation) for conversation, _ in asked]
    golds = [gold for _, gold in asked]
    replies = evaluate.generate(model, tokenizer, prompts, max_new_tokens=run.config.evaluation.max_new_tokens,
                                chat=False)
    answer_ppl = evaluate.completion_perplexity(model, tokenizer, prompts, [g + tokenizer.eos_token for g in golds],
                                                max_length=run.config.training.max_length)
    return {"answer_perplexity": round(answer_ppl, 4), "answer_match": evaluate.match_rate(replies, golds),
            "exact_match": evaluate.match_rate(replies, golds, strict=True)}, replies


def _example(record: dict, before: str, after: str) -> dict:
    """One held-out question with its gold answer and both replies; a conversation's earlier turns too."""
    example = {"prompt": question(record), "gold": held_out_turn(record)[1], "before": before, "after": after}
    if "messages" in record:
        example["earlier_turns"] = record["messages"][:-2]  # what came before the question
    return example


def stage_evaluation(run: Run) -> dict:
    test = run.records("test")[: run.config.evaluation.limit]
    model = _tuned_model(run)
    with model.disable_adapter():
        before, before_replies = _measure(model, run, test)
    after, after_replies = _measure(model, run, test)
    examples = [_example(r, b, a) for r, b, a in zip(test, before_replies, after_replies)]
    metrics = {"n_test": len(test), "before": before, "after": after, "examples": examples}
    atomic.write_json(run.stage_dir("evaluation") / "metrics.json", metrics, indent=2)
    return {"before": before, "after": after}


# ---- stage 6: deployment (export) ------------------------------------------------------------

def stage_export(run: Run) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    if not run.config.export.enabled:
        return {"exported": False}
    tokenizer, folder = run.tokenizer(), run.stage_dir("export") / "merged"
    adapter_model = _tuned_model(run)
    prompt = run.config.export.check_prompt
    adapter_reply = evaluate.generate(adapter_model, tokenizer, [prompt], max_new_tokens=16)[0]
    inputs = tokenizer(data.chat_prompt(tokenizer, prompt), return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        adapter_logits = adapter_model(**inputs.to(run.profile.device)).logits
    with atomic.staged_folder(folder) as staging:
        adapter_model.merge_and_unload().save_pretrained(staging)  # merging folds B @ A into each weight
        tokenizer.save_pretrained(staging)
    merged = AutoModelForCausalLM.from_pretrained(folder, dtype=run.config.model.dtype).to(run.profile.device).eval()
    with torch.no_grad():
        difference = (merged(**inputs).logits.float() - adapter_logits.float()).abs().max().item()
    merged_reply = evaluate.generate(merged, tokenizer, [prompt], max_new_tokens=16)[0]
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    summary = {"path": str(folder), "size_mb": round(size / 1e6, 1), "max_logit_difference": difference,
               "same_reply": merged_reply == adapter_reply, "reply": merged_reply}
    atomic.write_json(run.stage_dir("export") / "export.json", summary, indent=2)
    return summary


# ---- stage 7: monitoring ---------------------------------------------------------------------

def monitoring_record(metrics: dict, previous: dict | None, config_hash: str, max_regression: float,
                      export: dict | None = None) -> dict:
    """A log record: the tuned model's metrics and whether they regressed vs the base model or the last run."""
    after, before = metrics["after"], metrics["before"]
    checks = {"not_worse_than_base": after["answer_match"] >= before["answer_match"] - max_regression}
    if export is not None and export.get("exported", True):
        checks["export_answers_like_adapter"] = bool(export["same_reply"])
    if previous is not None:
        checks["not_worse_than_previous"] = after["answer_match"] >= previous["metrics"]["answer_match"] - max_regression
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "config_hash": config_hash,
            "metrics": after, "baseline": before, "checks": checks, "alert": not all(checks.values())}


def stage_monitoring(run: Run) -> dict:
    metrics = json.loads((run.stage_dir("evaluation") / "metrics.json").read_text())
    log = run.stage_dir("monitoring") / run.config.monitoring.log_file
    history = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    export_file = run.stage_dir("export") / "export.json"
    export = json.loads(export_file.read_text()) if export_file.exists() else None
    record = monitoring_record(metrics, history[-1] if history else None, run.config.config_hash(),
                               run.config.monitoring.max_regression, export)
    atomic.write_text(log, "".join(json.dumps(r) + "\n" for r in history + [record]))  # the old log, or the new one whole
    return {"alert": record["alert"], "checks": record["checks"], "log_records": len(history) + 1}


STAGE_FUNCTIONS: dict[str, Callable[[Run], dict]] = {
    "data": stage_data, "model": stage_model, "setup": stage_setup, "finetune": stage_finetune,
    "evaluation": stage_evaluation, "export": stage_export, "monitoring": stage_monitoring,
}


# ---- running ---------------------------------------------------------------------------------

def check(config: str | Path | PipelineConfig) -> PipelineConfig:
    """Everything that can be known before training, without loading a model: the config's keys and
    values, the profile, whether the model can be had here, every data record, and what stage 1
    would leave to train and test on."""
    config = config if isinstance(config, PipelineConfig) else load_config(config)
    place = f"{config.source}: " if config.source else ""
    try:
        profile = get_profile(config.profile)
    except ConfigError as error:
        raise error.at(place + error.where) from None
    name = config.model.name or profile.lm
    chosen = repr(name) if config.model.name else f"null: profile {profile.name!r} uses {name!r}"
    where = f"{place}key 'model.name' ({chosen})"
    if name == models.MINILM:
        raise ModelError("is a sentence encoder; the pipeline fine-tunes a chat model", where,
                         f"use {models.SMOLLM2} (or null for the profile's model)")
    try:
        models.check_available(name)
    except ModelError as error:
        raise error.at(where) from None
    prepare_data(with_profile(config, profile))  # the seed the run will use splits the data here too
    return config


def _data_hash(config: PipelineConfig) -> str:
    base = Path(config.source).parent if config.source else None
    digest = hashlib.sha256()
    for value in (config.data.train_file, config.data.test_file):
        if value:
            digest.update(resolve_data_file(value, base).read_bytes())
    return digest.hexdigest()[:12]


def _claim(folder: Path, config: PipelineConfig, fresh: bool) -> None:
    """Mark ``folder`` as this config's run folder; refuse one that holds another config's (or data's) run."""
    stamp, now = folder / "config.yaml", {"config_hash": config.config_hash(), "data_hash": _data_hash(config)}
    if stamp.exists() and fresh:
        shutil.rmtree(folder)
    if stamp.exists():
        earlier = yaml.safe_load(stamp.read_text())
        changed = [key.split("_")[0] for key in now if earlier.get(key) != now[key]]
        if changed:
            raise ConfigError(f"holds a run of a different {' and '.join(changed)} "
                              f"(config hash {earlier.get('config_hash')}, now {now['config_hash']})", str(folder),
                              "choose another run_name or --run-dir, or pass fresh=True (--fresh) to start again")
        return
    atomic.write_text(stamp, yaml.safe_dump({**now, **config.to_dict()}, sort_keys=False))


def run_pipeline(config: str | Path | PipelineConfig, run_dir: str | Path | None = None, until: str | None = None,
                 fresh: bool = False, verbose: bool = True) -> PipelineResult:
    """Run the seven stages (or those up to ``until``), skipping the ones already done in the run folder.

    Everything is checked first (config keys, types, files and every data record), so a mistake
    stops the run before a model is loaded. The run folder is ``run_dir``, else
    ``$LABKIT_RUNS/<run_name>``.
    """
    if until is not None and until not in STAGES:
        raise ConfigError(f"{until!r} is not a stage", "until", f"choose one of {', '.join(STAGES)}")
    config = check(config)
    profile = get_profile(config.profile)
    run = Run(with_profile(config, profile), profile, Path(run_dir) if run_dir else train.run_dir(config.run_name))
    with disk_errors(str(run.folder)):
        _claim(run.folder, run.config, fresh)
    result = PipelineResult(run.folder, [], [], {})
    for stage in STAGES[: STAGES.index(until) + 1 if until else None]:
        with disk_errors(str(run.folder / f"{STAGES.index(stage) + 1}_{stage}")):
            done = _finished(run.stage_dir(stage) / DONE)
            if done is not None:
                result.skipped.append(stage)
                result.summaries[stage] = done["summary"]
                if verbose:
                    print(f"[{stage}] already done, skipped")
                continue
            start = time.perf_counter()
            summary = STAGE_FUNCTIONS[stage](run)
            seconds = round(time.perf_counter() - start, 1)
            atomic.write_text(run.stage_dir(stage) / DONE,
                              json.dumps({"stage": stage, "seconds": seconds, "summary": summary}, indent=2, default=str))
        result.ran.append(stage)
        result.summaries[stage] = summary
        if verbose:
            print(f"[{stage}] done in {seconds} s: {json.dumps(summary, default=str)[:150]}")
    return result


def _finished(done: Path) -> dict | None:
    """A stage's ``done.json``, or None if the stage has not finished (a damaged marker: run it again)."""
    if not done.exists():
        return None
    try:
        marker = json.loads(done.read_text(encoding="utf-8"))
        if isinstance(marker, dict) and "summary" in marker:
            return marker
    except (ValueError, UnicodeDecodeError):
        pass
    print(f"{done} is damaged; running that stage again")
    return None


def describe(folder: str | Path) -> str:
    """A listing of a run folder: each stage, whether it is done, and its files (sizes in kB)."""
    folder, lines = Path(folder), []
    for number, stage in enumerate(STAGES, start=1):
        path = folder / f"{number}_{stage}"
        state = "done" if (path / DONE).exists() else "not done"
        files = sorted(p for p in path.iterdir() if p.name != DONE) if path.exists() else []
        shown = ", ".join(f"{p.name}/" if p.is_dir() else f"{p.name} ({max(1, p.stat().st_size // 1000)} kB)" for p in files)
        lines.append(f"{number}_{stage:<11} {state:<9} {shown}")
    return "\n".join(lines)

