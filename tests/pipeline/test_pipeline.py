"""The seven-stage pipeline: configs are checked before any work, every stage leaves its artefact,
and a re-run resumes at the first unfinished stage."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labkit.errors import ConfigError, DataError
from labkit.pipeline import stages
from labkit.pipeline.runconfig import load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "configs" / "pipeline_example.yaml"


def write_config(folder: Path, values: dict) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def own_data(folder: Path) -> Path:
    """A learner's own JSONL, with a duplicate and a too-long record for the cleaning stage."""
    rows = [{"question": f"What is code word {i}?", "answer": f"Word {i % 4}"} for i in range(12)]
    rows += [rows[0], {"question": "x" * 300, "answer": "too long"}]
    path = folder / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def own_chats(folder: Path) -> Path:
    """A learner's own chat JSONL: one- and two-turn conversations, a duplicate and a too-long one."""
    def chat(*pairs, system=None):
        head = [{"role": "system", "content": system}] if system else []
        return {"messages": head + [{"role": role, "content": text} for pair in pairs
                                    for role, text in zip(("user", "assistant"), pair)]}

    rows = [chat((f"What is code word {i}?", f"Word {i % 4}"), (f"Spell word {i}.", f"W-{i}"),
                 system="Answer briefly." if i % 3 == 0 else None) for i in range(8)]
    rows += [chat((f"Name code word {i}.", f"Word {i % 4}")) for i in range(4)]
    rows += [rows[1], chat(("x" * 300, "too long"))]
    path = folder / "chats.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def tiny_config(folder: Path, **sections) -> dict:
    values = {
        "run_name": "tiny", "profile": "ci",
        "data": {"train_file": str(own_data(folder)), "max_chars": 200, "test_fraction": 0.25},
        "model": {"name": "tiny-llama"},
        "training": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64, "learning_rate": 1e-3},
        "lora": {"r": 4, "lora_alpha": 8},
        "evaluation": {"max_new_tokens": 3, "limit": 2},
        "export": {"check_prompt": "Hi"},
    }
    for name, changes in sections.items():
        values[name] = {**values.get(name, {}), **changes}
    return values


# ---- validation: before any work ----------------------------------------------------------

def test_the_example_config_is_valid():
    config = load_config(EXAMPLE)
    assert config.data.train_file == "facts.jsonl" and config.training.max_steps == 12


def test_the_chat_config_is_valid_and_its_file_passes_the_checks():
    config = stages.check(ROOT / "configs" / "pipeline_chat.yaml")
    assert config.data.schema == "chat" and config.data.train_file == "veloria_chat.jsonl"


def test_an_unsupported_schema_names_the_ones_that_work(tmp_path):
    with pytest.raises(ConfigError, match=r"(?s)'data.schema': 'preference' is not supported.*qa, prompt-completion, chat"):
        parse_config(tiny_config(tmp_path, data={"schema": "preference"}))


def test_unknown_key_is_named_with_its_section_and_a_suggestion(tmp_path):
    values = tiny_config(tmp_path, training={"learning_rte": 1e-3})
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, values))
    message = str(error.value)
    assert "'training.learning_rte'" in message and "did you mean 'learning_rate'" in message


def test_unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match="key 'evalution': unknown key, did you mean 'evaluation'"):
        parse_config({"evalution": {}})


def test_wrong_type_names_key_expected_and_got(tmp_path):
    values = tiny_config(tmp_path, training={"max_steps": "ten"})
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, values))
    message = str(error.value)
    assert "'training.max_steps'" in message and "expected int | None" in message and "got str" in message


def test_a_bool_is_not_an_int_and_an_int_is_a_float(tmp_path):
    with pytest.raises(ConfigError, match="lora.r"):
        parse_config(tiny_config(tmp_path, lora={"r": True}))
    assert parse_config(tiny_config(tmp_path, training={"learning_rate": 1})).training.learning_rate == 1


def test_missing_data_file_names_key_and_path(tmp_path):
    values = tiny_config(tmp_path, data={"train_file": "no_such_file.jsonl"})
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path, values))
    assert "'data.train_file'" in str(error.value) and "no_such_file.jsonl" in str(error.value)


def test_bad_data_line_is_named_before_any_work(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok?", "answer": "yes"}\n{"question": "no answer?"}\n')
    values = tiny_config(tmp_path, data={"train_file": str(bad)})
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match=r"bad.jsonl:2: missing field 'answer'"):
        stages.run_pipeline(write_config(tmp_path, values), run_dir=run_dir)
    assert not run_dir.exists()  # nothing was started


def test_a_bad_conversation_is_named_before_any_work(tmp_path):
    bad = tmp_path / "bad_chats.jsonl"
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    unanswered = {"messages": [{"role": "user", "content": "hi"}]}
    bad.write_text(json.dumps(good) + "\n" + json.dumps(unanswered) + "\n")
    values = tiny_config(tmp_path, data={"train_file": str(bad), "schema": "chat"})
    run_dir = tmp_path / "run"
    with pytest.raises(DataError, match=r"bad_chats.jsonl:2: the conversation has no assistant turn"):
        stages.run_pipeline(write_config(tmp_path, values), run_dir=run_dir)
    assert not run_dir.exists()


def test_relative_data_path_is_read_from_the_configs_folder(tmp_path):
    own_data(tmp_path)
    config = load_config(write_config(tmp_path, tiny_config(tmp_path, data={"train_file": "mine.jsonl"})))
    assert stages.check(config).data.train_file == "mine.jsonl"


# ---- running ------------------------------------------------------------------------------

def test_cleaning_counts_duplicates_and_too_long():
    records = [{"prompt": "a?", "completion": "b"}, {"prompt": "A?", "completion": "B"}, {"prompt": "c" * 50, "completion": "d"}]
    kept, counts = stages.clean(records, max_chars=20)
    assert len(kept) == 1 and counts == {"too_long": 1, "duplicates": 1}


def test_held_out_records_come_from_the_split_field_or_a_test_file(tmp_path):
    rows = [{"question": f"Q{i}?", "answer": f"A{i}", "part": "test" if i < 3 else "train"} for i in range(10)]
    rows.append({"question": "Q0?", "answer": "another answer", "part": "train"})  # a held-out question leaked into training
    (tmp_path / "parts.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (tmp_path / "extra.jsonl").write_text('{"question": "Extra?", "answer": "E"}\n')
    config = write_config(tmp_path, tiny_config(tmp_path, data={"train_file": "parts.jsonl", "split_field": "part"}))
    counts = stages.run_pipeline(config, run_dir=tmp_path / "a", until="data", verbose=False).summaries["data"]
    assert counts["test"] == 2 and counts["test_also_in_train"] == 1 and counts["train"] == 8
    config = write_config(tmp_path, tiny_config(tmp_path, data={"train_file": "parts.jsonl", "test_file": "extra.jsonl"}))
    counts = stages.run_pipeline(config, run_dir=tmp_path / "b", until="data", verbose=False).summaries["data"]
    assert counts["test"] == 1 and counts["train"] == 11


def test_conversations_are_cleaned_and_held_out_by_their_last_question(tmp_path):
    def chat(*pairs, split="train"):
        return {"messages": [{"role": role, "content": text} for pair in pairs
                             for role, text in zip(("user", "assistant"), pair)], "split": split}

    rows = [chat((f"Q{i}?", f"A{i}"), (f"Then Q{i}b?", f"A{i}b")) for i in range(6)]
    rows += [chat(("Q0?", "A0"), ("Held out?", "H"), split="test"),  # its first turn is in training: fine
             chat(("Q9?", "A9"), ("Then Q2b?", "A2b"), split="test"),  # its question is a training turn: leaked
             chat(("q1?", "a1"), ("THEN   Q1b?", "a1B"))]  # the same conversation as row 1 but for case and spaces
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    config = write_config(tmp_path, tiny_config(tmp_path, data={"train_file": "c.jsonl", "schema": "chat"}))
    counts = stages.run_pipeline(config, run_dir=tmp_path / "run", until="data", verbose=False).summaries["data"]
    assert counts == {"raw": 9, "too_long": 0, "duplicates": 1, "test_also_in_train": 1, "train": 6, "test": 1}
    (held_out,) = [json.loads(line) for line in (tmp_path / "run" / "1_data" / "test.jsonl").read_text().splitlines()]
    assert stages.question(held_out) == "Held out?"
    conversation, gold = stages.held_out_turn(held_out, system="Be brief.")
    assert gold == "H" and [m["role"] for m in conversation] == ["system", "user", "assistant", "user"]
    assert conversation[-1]["content"] == "Held out?"


def test_dedupe_against_test_drops_the_training_copies_and_keeps_the_test_set_whole(tmp_path):
    def chat(*pairs, split="train"):
        return {"messages": [{"role": role, "content": text} for pair in pairs
                             for role, text in zip(("user", "assistant"), pair)], "split": split}

    held_out = [chat((f"Known {i}?", f"K{i}"), (f"Held out {i}?", f"H{i}"), split="test") for i in range(3)]
    rows = [chat((f"Known {i}?", f"K{i}")) for i in range(6)] + held_out
    planted = [{**held_out[0], "split": "train"},  # an exact copy on the training side: a leak, not a duplicate
               chat(("  HELD   out 1?", "another answer")),  # the question again, in other case and spacing
               chat(("Known 5?", "K5"), ("held out 2?", "H2"))]  # asked in a later turn of a longer conversation
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in planted[:1] + rows + planted[1:]))
    values = tiny_config(tmp_path, data={"train_file": "c.jsonl", "schema": "chat"})
    with pytest.raises(DataError, match="no held-out record is left.*test also in train: 3"):  # by default the test side goes
        stages.prepare_data(parse_config(values, source=str(tmp_path / "run.yaml")))
    values["data"]["dedupe_against_test"] = True
    train_set, test_set, counts = stages.prepare_data(parse_config(values, source=str(tmp_path / "run.yaml")))
    assert counts == {"raw": 12, "too_long": 0, "duplicates": 0, "train_also_in_test": 3, "test_also_in_train": 0,
                      "train": 6, "test": 3}
    assert test_set == [{**r, "split": "test"} for r in held_out] and all(r["split"] is None for r in train_set)


def test_the_added_key_leaves_an_older_configs_hash_alone(tmp_path):
    values = tiny_config(tmp_path)
    plain, explicit = parse_config(values), parse_config({**values, "data": {**values["data"], "dedupe_against_test": False}})
    assert "dedupe_against_test" not in plain.to_dict()["data"] and plain.config_hash() == explicit.config_hash()
    on = parse_config({**values, "data": {**values["data"], "dedupe_against_test": True}})
    assert on.to_dict()["data"]["dedupe_against_test"] is True and on.config_hash() != plain.config_hash()
    assert "train_also_in_test" not in stages.prepare_data(plain)[2]


def test_monitoring_alerts_on_a_regression():
    metrics = {"before": {"answer_match": 0.5}, "after": {"answer_match": 0.9}}
    ok = stages.monitoring_record(metrics, None, "abc", 0.05)
    assert not ok["alert"]
    worse = stages.monitoring_record({"before": {"answer_match": 0.5}, "after": {"answer_match": 0.6}}, ok, "abc", 0.05)
    assert worse["alert"] and worse["checks"] == {"not_worse_than_base": True, "not_worse_than_previous": False}


def test_a_tiny_run_leaves_every_artefact_and_resumes(tmp_path, monkeypatch):
    config = write_config(tmp_path, tiny_config(tmp_path))
    run_dir = tmp_path / "run"

    def interrupted(run):
        raise KeyboardInterrupt("simulated interruption in evaluation")

    monkeypatch.setitem(stages.STAGE_FUNCTIONS, "evaluation", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stages.run_pipeline(config, run_dir=run_dir, verbose=False)
    assert (run_dir / "4_finetune" / "done.json").exists() and not (run_dir / "5_evaluation" / "done.json").exists()
    monkeypatch.undo()

    result = stages.run_pipeline(config, run_dir=run_dir, verbose=False)
    assert result.skipped == ["data", "model", "setup", "finetune"]
    assert result.ran == ["evaluation", "export", "monitoring"]
    counts = json.loads((run_dir / "1_data" / "counts.json").read_text())
    assert counts["duplicates"] == 1 and counts["too_long"] == 1 and counts["train"] + counts["test"] == 12
    card = json.loads((run_dir / "2_model" / "model_card.json").read_text())
    assert card["chat_template"] and card["special_tokens"]["eos_token"] == "<|im_end|>"
    resolved = yaml.safe_load((run_dir / "3_setup" / "resolved_config.yaml").read_text())
    assert resolved["sft_config"]["max_steps"] == 2 and resolved["lora_config"]["r"] == 4
    assert (run_dir / "4_finetune" / "adapter" / "adapter_config.json").exists()
    metrics = json.loads((run_dir / "5_evaluation" / "metrics.json").read_text())
    assert metrics["n_test"] == 2 and set(metrics["after"]) == {"answer_perplexity", "answer_match", "exact_match"}
    export = json.loads((run_dir / "6_export" / "export.json").read_text())
    assert export["same_reply"] and export["max_logit_difference"] < 1e-3
    assert (run_dir / "6_export" / "merged" / "model.safetensors").exists()
    (record,) = [json.loads(line) for line in (run_dir / "7_monitoring" / "monitoring.jsonl").read_text().splitlines()]
    assert record["config_hash"] == yaml.safe_load((run_dir / "config.yaml").read_text())["config_hash"]
    assert "alert" in record

    again = stages.run_pipeline(config, run_dir=run_dir, verbose=False)
    assert again.ran == [] and len(again.skipped) == 7


def test_a_tiny_run_on_conversations_goes_through_every_stage(tmp_path):
    values = tiny_config(tmp_path, data={"train_file": str(own_chats(tmp_path)), "schema": "chat"},
                         training={"max_length": 128})
    result = stages.run_pipeline(write_config(tmp_path, values), run_dir=tmp_path / "run", verbose=False)
    assert result.ran == list(stages.STAGES)
    assert result.summaries["data"] == {"raw": 14, "too_long": 1, "duplicates": 1, "test_also_in_train": 0,
                                        "train": 9, "test": 3}
    assert result.summaries["finetune"]["steps"] == 2
    metrics = json.loads((tmp_path / "run" / "5_evaluation" / "metrics.json").read_text())
    test = [json.loads(line) for line in (tmp_path / "run" / "1_data" / "test.jsonl").read_text().splitlines()]
    assert metrics["n_test"] == 2 and [e["gold"] for e in metrics["examples"]] == [r["messages"][-1]["content"] for r in test[:2]]
    assert [e["prompt"] for e in metrics["examples"]] == [r["messages"][-2]["content"] for r in test[:2]]
    assert [e["earlier_turns"] for e in metrics["examples"]] == [r["messages"][:-2] for r in test[:2]]
    assert result.summaries["export"]["same_reply"]
    assert set(result.summaries["monitoring"]["checks"]) == {"not_worse_than_base", "export_answers_like_adapter"}


def test_a_run_folder_refuses_a_changed_config(tmp_path):
    run_dir = tmp_path / "run"
    stages.run_pipeline(write_config(tmp_path, tiny_config(tmp_path)), run_dir=run_dir, until="data", verbose=False)
    changed = write_config(tmp_path, tiny_config(tmp_path, training={"max_steps": 3}))
    with pytest.raises(ConfigError, match="different config"):
        stages.run_pipeline(changed, run_dir=run_dir, until="data", verbose=False)
    same = write_config(tmp_path, tiny_config(tmp_path))
    (tmp_path / "mine.jsonl").write_text("".join(f'{{"question": "new {i}?", "answer": "data"}}\n' for i in range(4)))  # same config, new data
    with pytest.raises(ConfigError, match="different data"):
        stages.run_pipeline(same, run_dir=run_dir, until="data", verbose=False)
    assert stages.run_pipeline(changed, run_dir=run_dir, until="data", fresh=True, verbose=False).ran == ["data"]


def test_labkit_seed_moves_the_training_seed_and_the_run_records_it(tmp_path, monkeypatch):
    """LABKIT_SEED (make robustness) reaches the pipeline's trainer; unset, the config's seed runs unchanged."""
    from safetensors.torch import load_file

    from labkit.pipeline.runconfig import with_profile
    from labkit.profiles import profile as get_profile

    config = write_config(tmp_path, tiny_config(tmp_path, training={"seed": 7}))
    monkeypatch.delenv("LABKIT_SEED", raising=False)
    plain = with_profile(load_config(config), get_profile("ci"))
    first = stages.run_pipeline(config, run_dir=tmp_path / "seed0", until="finetune", verbose=False).folder
    monkeypatch.setenv("LABKIT_SEED", "2")
    moved = with_profile(load_config(config), get_profile("ci"))
    assert (plain.training.seed, moved.training.seed) == (7, 9) and plain.config_hash() != moved.config_hash()
    with pytest.raises(ConfigError, match="different config"):  # a run under another seed is another run
        stages.run_pipeline(config, run_dir=tmp_path / "seed0", until="data", verbose=False)
    second = stages.run_pipeline(config, run_dir=tmp_path / "seed2", until="finetune", verbose=False).folder
    for folder, seed in ((first, 7), (second, 9)):
        resolved = yaml.safe_load((folder / "3_setup" / "resolved_config.yaml").read_text())
        assert resolved["pipeline"]["training"]["seed"] == resolved["sft_config"]["seed"] == seed
        assert yaml.safe_load((folder / "config.yaml").read_text())["training"]["seed"] == seed
    weights = [load_file(folder / "4_finetune" / "adapter" / "adapter_model.safetensors") for folder in (first, second)]
    assert any(not weights[0][k].equal(weights[1][k]) for k in weights[0])  # another seed, another adapter


def test_two_runs_of_one_config_give_identical_results(tmp_path):
    from safetensors.torch import load_file

    config = write_config(tmp_path, tiny_config(tmp_path, training={"max_steps": 4}))
    first, second = (stages.run_pipeline(config, run_dir=tmp_path / name, verbose=False).folder for name in "ab")
    for artefact in ("4_finetune/losses.json", "5_evaluation/metrics.json"):
        assert (first / artefact).read_text() == (second / artefact).read_text(), artefact
    exports = [json.loads((folder / "6_export" / "export.json").read_text()) for folder in (first, second)]
    assert [e.pop("path") for e in exports] == [str(first / "6_export" / "merged"), str(second / "6_export" / "merged")]
    assert exports[0] == exports[1]  # the same logit difference and reply after merging
    assert len(json.loads((first / "4_finetune" / "losses.json").read_text())) == 4
    weights = [load_file(folder / "4_finetune" / "adapter" / "adapter_model.safetensors") for folder in (first, second)]
    assert weights[0].keys() == weights[1].keys() and all(weights[0][k].equal(weights[1][k]) for k in weights[0])


# ---- the command line ---------------------------------------------------------------------

def cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "labkit", "pipeline", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_cli_checks_the_example_and_rejects_a_bad_config(tmp_path):
    ok = cli("check", str(EXAMPLE))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = write_config(tmp_path, tiny_config(tmp_path, lora={"rank": 4}))
    result = cli("run", str(bad), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "'lora.rank'" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_cli_runs_a_config_on_the_learners_own_jsonl(tmp_path):
    config = write_config(tmp_path, tiny_config(tmp_path, data={"train_file": "mine.jsonl"}))  # relative path
    result = cli("run", str(config), "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "7_monitoring" in result.stdout and "not done" not in result.stdout


@pytest.mark.skipif(os.environ.get("LABKIT_SLOW_TESTS") != "1", reason="runs SmolLM2 for ~1 min; notebook 06 covers it")
def test_cli_runs_the_shipped_example(tmp_path):
    result = cli("run", str(EXAMPLE), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "5_evaluation" / "metrics.json").read_text())
    assert metrics["after"]["answer_match"] > metrics["before"]["answer_match"]


@pytest.mark.skipif(os.environ.get("LABKIT_SLOW_TESTS") != "1", reason="runs SmolLM2 for a few minutes")
def test_smollm2_learns_the_veloria_conversations(tmp_path):
    result = cli("run", str(ROOT / "configs" / "pipeline_chat.yaml"), "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "5_evaluation" / "metrics.json").read_text())
    print(json.dumps({k: metrics[k] for k in ("n_test", "before", "after")}))
    assert metrics["after"]["answer_match"] >= metrics["before"]["answer_match"] + 0.3
    assert metrics["after"]["answer_perplexity"] < metrics["before"]["answer_perplexity"] / 2
