"""The bad-input catalogue: every way a learner's data file, run config or machine can go wrong.

One row per case. A rejected case must end in its named error (the type, and a message naming the
place: file:line, config key, model) through both ``stages.check`` and the real command line
(exit status 2, no traceback), and must leave the folder as it was. An accepted case (a byte-order
mark, Windows line ends, a few duplicates) must pass both. Resource cases (a full disk, a read-only
run folder, damaged checkpoints) call the stage and save functions directly, and one tiny training
run fills the disk while it saves a checkpoint.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

from labkit import atomic, cli, data, models, train
from labkit.errors import ConfigError, DataError, LabkitError, ModelError, ResourceError
from labkit.pipeline import stages

GOOD = [{"question": f"What is code word {i}?", "answer": f"Word {i % 4}"} for i in range(12)]
BASE = {
    "run_name": "bad", "profile": "ci",
    "data": {"train_file": "train.jsonl", "test_fraction": 0.25},
    "model": {"name": models.TINY_LLAMA},
    "training": {"max_steps": 2, "per_device_train_batch_size": 4, "max_length": 64, "learning_rate": 1e-3},
    "lora": {"r": 4, "lora_alpha": 8},
}


def jsonl(rows: list, newline: str = "\n") -> str:
    return "".join(json.dumps(r) + newline for r in rows)


def lines(*items: str) -> str:
    return "\n".join(items) + "\n"


def with_changes(**changes) -> dict:
    """The base config with some sections' keys changed (a dict merges; anything else replaces)."""
    values = json.loads(json.dumps(BASE))
    for key, value in changes.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) and isinstance(values.get(key), dict) else value
    return values


@dataclass
class Case:
    name: str
    error: type[LabkitError] | None  # None: the input is accepted
    place: tuple[str, ...] = ()  # what the message must name; {dir} is the case's folder
    train: str | bytes = jsonl(GOOD)  # train.jsonl
    config: dict | str | bytes = field(default_factory=lambda: BASE)  # run.yaml: values, or the file's text/bytes
    files: dict[str, str] = field(default_factory=dict)  # more files in the folder
    target: str = "run.yaml"  # what is passed to check
    env: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # accepted: what stage 1 must count


LONG = json.dumps({"question": "x" * 1_100_000, "answer": "y"})
LEAKY_TEST = jsonl([{"question": r["question"], "answer": "other"} for r in GOOD[:3]])

DATA_CASES = [
    Case("malformed JSON", DataError, ("{dir}/train.jsonl:3:", "invalid JSON"),
         train=lines(*[json.dumps(r) for r in GOOD[:2]], '{"question": "c?", "answer": ', *[json.dumps(r) for r in GOOD[2:]])),
    Case("a field of the wrong type", DataError, ("{dir}/train.jsonl:2:", "field 'answer' should be str, got int"),
         train=jsonl([GOOD[0], {"question": "q?", "answer": 4}] + GOOD[1:])),
    Case("missing field", DataError, ("{dir}/train.jsonl:1:", "missing field 'answer'"),
         train=jsonl([{"question": "q?"}] + GOOD)),
    Case("empty field", DataError, ("{dir}/train.jsonl:13:", "field 'question' is empty"),
         train=jsonl(GOOD + [{"question": "  ", "answer": "a"}])),
    Case("several bad lines, each named", DataError, ("{dir}/train.jsonl: 3 bad lines", "train.jsonl:1:", "train.jsonl:2:",
                                                      "train.jsonl:3:"),
         train=jsonl([{"question": "q?"}, {"answer": "a"}, 7] + GOOD)),
    Case("empty file", DataError, ("{dir}/train.jsonl:", "holds no records"), train=""),
    Case("only blank lines", DataError, ("{dir}/train.jsonl:", "holds no records"), train="\n  \n\n"),
    Case("non-UTF-8 byte (Latin-1 café)", DataError, ("{dir}/train.jsonl:4:", "byte 0xe9", "not UTF-8", "save it as UTF-8"),
         train=jsonl(GOOD[:3]).encode() + '{"question": "Un café?", "answer": "Oui"}\n'.encode("latin-1")
         + jsonl(GOOD[3:]).encode()),
    Case("UTF-8 byte-order mark (accepted)", None, train="\ufeff" + jsonl(GOOD), counts={"raw": 12}),
    Case("Windows line ends (accepted)", None, train=jsonl(GOOD, newline="\r\n"), counts={"raw": 12}),
    Case("a JSON array instead of JSONL", DataError, ("{dir}/train.jsonl:1:", "one JSON array"),
         train=json.dumps(GOOD, indent=2)),
    Case("a line that is not an object", DataError, ("{dir}/train.jsonl:5:", "expected a JSON object, got list"),
         train=lines(*[json.dumps(r) for r in GOOD[:4]], '["q?", "a"]', *[json.dumps(r) for r in GOOD[4:]])),
    Case("a huge line", DataError, ("{dir}/train.jsonl:2:", "longer than 1,000,000 bytes"),
         train=lines(json.dumps(GOOD[0]), LONG, *[json.dumps(r) for r in GOOD[1:]])),
    Case("the wrong schema's fields", DataError, ("{dir}/train.jsonl:1:", "missing field 'prompt'"),
         config=with_changes(data={"schema": "prompt-completion"})),
    Case("a bad line in the test file", DataError, ("{dir}/held_out.jsonl:2:", "missing field 'answer'"),
         config=with_changes(data={"test_file": "held_out.jsonl"}),
         files={"held_out.jsonl": lines('{"question": "new?", "answer": "a"}', '{"question": "b?"}')}),
    Case("a few duplicates (accepted, counted)", None, train=jsonl(GOOD + GOOD[:3]), counts={"duplicates": 3, "raw": 15}),
    Case("every record the same", DataError, ("{dir}/train.jsonl:", "no training record is left", "duplicates: 11"),
         train=jsonl([GOOD[0]] * 12)),
    Case("every held-out question is also a training question", DataError,
         ("{dir}/train.jsonl:", "no held-out record is left", "test also in train: 3"),
         config=with_changes(data={"test_file": "held_out.jsonl"}), files={"held_out.jsonl": LEAKY_TEST}),
    Case("one held-out question leaks (accepted, dropped and counted)", None,
         config=with_changes(data={"test_file": "held_out.jsonl"}),
         files={"held_out.jsonl": LEAKY_TEST + jsonl([{"question": "Fresh?", "answer": "yes"}])},
         counts={"test_also_in_train": 3, "test": 1}),
    Case("a missing data file", ConfigError, ("{dir}/run.yaml: key 'data.train_file'", "file not found", "nope.jsonl"),
         config=with_changes(data={"train_file": "nope.jsonl"})),
    Case("a folder as data file", ConfigError, ("{dir}/run.yaml: key 'data.train_file'", "is a folder"),
         config=with_changes(data={"train_file": "sub"}), files={"sub/x.jsonl": jsonl(GOOD)}),
]

def chat(*turns: tuple[str, str], split: str | None = None) -> dict:
    """A chat record from (role, content) turns."""
    return {"messages": [{"role": role, "content": text} for role, text in turns], **({"split": split} if split else {})}


CHATS = [chat(("user", f"What is code word {i}?"), ("assistant", f"Word {i % 4}")) for i in range(12)]
CHAT_CONFIG = with_changes(data={"schema": "chat"})


def chats_with(line: int, record) -> str:
    """The good conversations with line ``line`` (1-based) replaced by ``record``."""
    rows = [*CHATS]
    rows[line - 1] = record
    return jsonl(rows)


CHAT_CASES = [
    Case("a chat turn with an unknown role", DataError, ("{dir}/train.jsonl:3:", "messages[1].role is 'bot'", "expected one of"),
         train=chats_with(3, chat(("user", "hi"), ("bot", "hello"))), config=CHAT_CONFIG),
    Case("chat turns that do not alternate", DataError, ("{dir}/train.jsonl:5:", "role 'user' follows a 'user' message"),
         train=chats_with(5, chat(("user", "hi"), ("user", "again?"), ("assistant", "hello"))), config=CHAT_CONFIG),
    Case("a conversation that ends on the user", DataError, ("{dir}/train.jsonl:2:", "ends with a user turn"),
         train=chats_with(2, chat(("user", "hi"), ("assistant", "hello"), ("user", "and then?"))), config=CHAT_CONFIG),
    Case("a conversation opened by the assistant", DataError, ("{dir}/train.jsonl:4:", "'assistant' comes first"),
         train=chats_with(4, chat(("assistant", "hello"), ("user", "hi"))), config=CHAT_CONFIG),
    Case("a system message in the middle", DataError, ("{dir}/train.jsonl:6:", "only the first message may be one"),
         train=chats_with(6, chat(("user", "hi"), ("system", "be brief"), ("assistant", "hello"))), config=CHAT_CONFIG),
    Case("a chat turn without content", DataError, ("{dir}/train.jsonl:7:", "must be an object with 'role' and 'content'"),
         train=chats_with(7, {"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]}), config=CHAT_CONFIG),
    Case("an empty chat turn", DataError, ("{dir}/train.jsonl:8:", "messages[1].content is empty"),
         train=chats_with(8, chat(("user", "hi"), ("assistant", "  "))), config=CHAT_CONFIG),
    Case("messages that are not a list", DataError, ("{dir}/train.jsonl:9:", "field 'messages' should be list"),
         train=chats_with(9, {"messages": "user: hi"}), config=CHAT_CONFIG),
    Case("question/answer records under the chat schema", DataError, ("{dir}/train.jsonl:1:", "missing field 'messages'"),
         config=CHAT_CONFIG),
    Case("several bad conversations, each named", DataError, ("{dir}/train.jsonl: 2 bad lines", "train.jsonl:1:",
                                                              "train.jsonl:12:"),
         train=jsonl([chat(("user", "hi"))] + CHATS[1:11] + [chat(("user", "a"), ("bot", "b"))]), config=CHAT_CONFIG),
    Case("conversations with a system message (accepted)", None, config=CHAT_CONFIG, counts={"raw": 12},
         train=jsonl([{"messages": [{"role": "system", "content": "Be brief."}, *r["messages"]]} for r in CHATS])),
    Case("training copies of held-out conversations (accepted, dropped and counted)", None,
         config=with_changes(data={"schema": "chat", "dedupe_against_test": True}),
         train=jsonl([{**r, "split": "test"} for r in CHATS[:3]] + CHATS[3:] + CHATS[:2]),
         counts={"train_also_in_test": 2, "test_also_in_train": 0, "test": 3, "train": 9}),
]

SECTIONS = {"data": "trian_file", "model": "nmae", "training": "learning_rte", "lora": "lora_alhpa",
            "evaluation": "max_new_token", "export": "enabeld", "monitoring": "log_fiel"}
SUGGESTED = {"data": "train_file", "model": "name", "training": "learning_rate", "lora": "lora_alpha",
             "evaluation": "max_new_tokens", "export": "enabled", "monitoring": "log_file"}

CONFIG_CASES = [
    Case("unknown top-level key", ConfigError, ("{dir}/run.yaml: key 'evalution'", "did you mean 'evaluation'"),
         config=with_changes(evalution={})),
    *[Case(f"unknown key in {section}", ConfigError,
           (f"{{dir}}/run.yaml: key '{section}.{typo}'", f"did you mean '{SUGGESTED[section]}'"),
           config=with_changes(**{section: {typo: 1}})) for section, typo in SECTIONS.items()],
    Case("a value of the wrong type", ConfigError, ("{dir}/run.yaml: key 'training.max_steps'", "expected int | None, got str"),
         config=with_changes(training={"max_steps": "ten"})),
    Case("a bool where an int belongs", ConfigError, ("{dir}/run.yaml: key 'lora.r'", "got bool"),
         config=with_changes(lora={"r": True})),
    Case("1e-3 is text to YAML", ConfigError, ("{dir}/run.yaml: key 'training.learning_rate'", "without quotes"),
         config=lines("run_name: bad", "profile: ci", "data:", "  train_file: train.jsonl", "training:",
                      "  learning_rate: 1e-3")),
    Case("a section that is not a mapping", ConfigError, ("{dir}/run.yaml: key 'training'", "expected a mapping"),
         config=with_changes(training=5)),
    Case("a list of the wrong items", ConfigError, ("{dir}/run.yaml: key 'lora.target_modules'", "got list"),
         config=with_changes(lora={"target_modules": [1, 2]})),
    *[Case(f"impossible {key} = {value}", ConfigError, (f"{{dir}}/run.yaml: key '{key}'", "must be"),
           config=with_changes(**{key.split(".")[0]: {key.split(".")[1]: value}} if "." in key else {key: value}))
      for key, value in [("training.learning_rate", -0.1), ("training.max_steps", 0), ("lora.r", 0),
                         ("training.per_device_train_batch_size", -1), ("training.max_length", 0),
                         ("data.test_fraction", 1.5), ("lora.lora_dropout", 1.0), ("training.seed", -1),
                         ("evaluation.limit", 0), ("monitoring.max_regression", 2), ("run_name", "../elsewhere")]],
    Case("unknown profile", ConfigError, ("{dir}/run.yaml: key 'profile'", "'laptop' is not a profile"),
         config=with_changes(profile="laptop")),
    Case("unknown profile from LABKIT_PROFILE", ConfigError, ("{dir}/run.yaml: LABKIT_PROFILE", "'laptop'"),
         config=with_changes(profile=None), env={"LABKIT_PROFILE": "laptop"}),
    Case("the gpu profile without a GPU", ConfigError, ("{dir}/run.yaml: profile", "needs a CUDA device", "LABKIT_PROFILE=cpu"),
         config=with_changes(profile="gpu")),
    Case("unknown schema", ConfigError, ("{dir}/run.yaml: key 'data.schema'", "'qna' is not supported"),
         config=with_changes(data={"schema": "qna"})),
    Case("unknown precision", ConfigError, ("{dir}/run.yaml: key 'model.dtype'", "'fp16' is not a precision"),
         config=with_changes(model={"dtype": "fp16"})),
    Case("unknown model name", ModelError, ("{dir}/run.yaml: key 'model.name' ('smollm-9000')", "LABKIT_PROFILE=cpu",
                                            models.SMOLLM2),
         config=with_changes(model={"name": "smollm-9000"})),
    Case("a Hub id that is not cached, offline", ModelError,
         ("{dir}/run.yaml: key 'model.name' ('nobody/no-such-model')", "cannot be reached", "LABKIT_PROFILE=cpu"),
         config=with_changes(model={"name": "nobody/no-such-model"}), env={"HF_HUB_OFFLINE": "1"}),
    Case("an encoder as the chat model", ModelError, ("{dir}/run.yaml: key 'model.name'", "sentence encoder"),
         config=with_changes(model={"name": models.MINILM})),
    Case("YAML syntax error", ConfigError, ("{dir}/run.yaml:4:", "not valid YAML", "starts at line 3"),
         config=lines("run_name: bad", "data:", "  train_file: [train.jsonl", "model: {}")),
    Case("a file that is not a mapping", ConfigError, ("{dir}/run.yaml:", "expected a mapping of keys to values, got list"),
         config=lines("- data", "- model")),
    Case("an empty config", ConfigError, ("{dir}/run.yaml: key 'data.train_file'", "is required"), config=""),
    Case("a config that is not UTF-8", ConfigError, ("{dir}/run.yaml:2:", "not UTF-8"),
         config="run_name: bad\n# réglages\n".encode("latin-1")),
    Case("a config with a byte-order mark (accepted)", None, config="\ufeff" + yaml.safe_dump(BASE)),
    Case("a missing config file", ConfigError, ("{dir}/nothing.yaml:", "config file not found"), target="nothing.yaml"),
    Case("a folder as config file", ConfigError, ("{dir}/sub:", "is a folder"), target="sub",
         files={"sub/x.yaml": "a: 1\n"}),
]

CASES = DATA_CASES + CHAT_CASES + CONFIG_CASES


def write_case(case: Case, folder: Path) -> Path:
    (folder / "train.jsonl").write_bytes(case.train if isinstance(case.train, bytes) else case.train.encode())
    config = case.config if isinstance(case.config, (str, bytes)) else yaml.safe_dump(case.config)
    (folder / "run.yaml").write_bytes(config if isinstance(config, bytes) else config.encode())
    for name, text in case.files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder / case.target


def snapshot(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*")}


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    status = cli.main(list(argv))
    return status, capsys.readouterr().err


def test_the_catalogue_is_large_and_its_names_unique():
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch, capsys):
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    target = write_case(case, tmp_path)
    before = snapshot(tmp_path)
    if case.error is None:
        config = stages.check(target)
        counts = stages.prepare_data(config)[2]
        assert {key: counts[key] for key in case.counts} == case.counts
        status, err = run_cli(capsys, "pipeline", "check", str(target))
        assert status == 0, err
    else:
        with pytest.raises(case.error) as raised:
            stages.check(target)
        message = str(raised.value)
        for place in case.place:
            assert place.format(dir=tmp_path) in message, message
        assert "<unicode string>" not in message and raised.value.fix, message
        status, err = run_cli(capsys, "pipeline", "check", str(target))
        assert status == 2 and "Traceback" not in err and f"error: {message}\n" in err
        assert len(err.strip().splitlines()) <= 2 or message.count("\n") > 1  # one or two lines, unless a list
    assert snapshot(tmp_path) == before  # checking writes nothing


# ---- the command line's one exit path --------------------------------------------------------

def test_run_stops_on_a_bad_stage_name_before_any_work(tmp_path, capsys):
    target = write_case(Case("until", None), tmp_path)
    status, err = run_cli(capsys, "pipeline", "run", str(target), "--run-dir", str(tmp_path / "run"), "--until", "training")
    assert status == 2 and "until: 'training' is not a stage" in err and "finetune" in err
    assert not (tmp_path / "run").exists()


def test_an_unexpected_error_is_short_and_points_at_debug(tmp_path, capsys, monkeypatch):
    target = write_case(Case("bug", None), tmp_path)
    monkeypatch.setattr(stages, "check", lambda config: 1 / 0)
    status, err = run_cli(capsys, "pipeline", "check", str(target))
    assert status == 1 and "unexpected ZeroDivisionError: division by zero" in err and "--debug" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2
    for argv in (["--debug", "pipeline", "check", str(target)], ["pipeline", "check", str(target), "--debug"]):
        with pytest.raises(ZeroDivisionError):  # --debug, before or after the command: the real traceback
            cli.main(argv)


def test_debug_shows_a_labkit_error_as_itself(tmp_path):
    target = write_case(Case("debug", None, config=with_changes(lora={"rank": 4})), tmp_path)
    with pytest.raises(ConfigError, match="key 'lora.rank'"):
        cli.main(["pipeline", "check", str(target), "--debug"])


# ---- resources: the disk, the run folder, checkpoints ----------------------------------------

def full_disk_after(monkeypatch, calls: int) -> None:
    """Let ``calls`` atomic writes through, then make every write find the disk full."""
    real, seen = os.fsync, []

    def fsync(fd):
        seen.append(fd)
        if len(seen) > calls:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith(".") or p.name.endswith(".tmp"))


def test_a_full_disk_in_stage_1_leaves_nothing_half_written_and_the_rerun_finishes(tmp_path, monkeypatch, capsys):
    target, run = write_case(Case("disk", None), tmp_path), tmp_path / "run"
    full_disk_after(monkeypatch, calls=2)  # the run folder's stamp and train.jsonl; test.jsonl finds the disk full
    status, err = run_cli(capsys, "pipeline", "run", str(target), "--run-dir", str(run), "--until", "data")
    assert status == 2 and "Traceback" not in err
    assert f"error: {run}/1_data/test.jsonl: cannot write here: the disk is full" in err and "free some disk space" in err
    assert not leftovers(run) and not (run / "1_data" / "test.jsonl").exists() and not (run / "1_data" / stages.DONE).exists()
    monkeypatch.undo()
    result = stages.run_pipeline(target, run_dir=run, until="data", verbose=False)
    assert result.ran == ["data"] and data.load_jsonl(run / "1_data" / "test.jsonl", "prompt-completion")


def test_a_full_disk_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = atomic.write_json(tmp_path / "metrics.json", {"answer_match": 0.5})
    full_disk_after(monkeypatch, calls=0)
    with pytest.raises(ResourceError, match="metrics.json: cannot write here: the disk is full"):
        atomic.write_json(path, {"answer_match": 0.9})
    assert json.loads(path.read_text()) == {"answer_match": 0.5} and not leftovers(tmp_path)


def read_only(folder: Path, monkeypatch) -> None:
    """Make ``folder`` unwritable: by its mode, and, for root (whom modes do not stop), as the kernel would."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_mkdir, real_open = os.mkdir, os.open

        def refuse(path):
            if Path(path).resolve().is_relative_to(folder.resolve()):
                raise PermissionError(errno.EACCES, "Permission denied", str(path))

        monkeypatch.setattr(os, "mkdir", lambda path, *a, **k: refuse(path) or real_mkdir(path, *a, **k))
        monkeypatch.setattr(os, "open", lambda path, *a, **k: refuse(path) or real_open(path, *a, **k))


def test_a_read_only_run_folder_is_named(tmp_path, monkeypatch, capsys):
    target, run = write_case(Case("ro", None), tmp_path), tmp_path / "run"
    read_only(run, monkeypatch)
    try:
        status, err = run_cli(capsys, "pipeline", "run", str(target), "--run-dir", str(run), "--until", "data")
    finally:
        run.chmod(0o755)
    assert status == 2 and "Traceback" not in err and f"{run}" in err and "permission denied" in err
    assert "choose a folder you can write to" in err and list(run.iterdir()) == []


def fake_checkpoint(output_dir: Path, step: int, state: str = "{}") -> Path:
    folder = output_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(folder / "adapter_model.safetensors"))
    if state is not None:
        (folder / train.TRAINER_STATE).write_text(state)
    return folder


def claimed(output_dir: Path, fingerprint: str = "abc") -> Path:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / train.FINGERPRINT).write_text(json.dumps({"fingerprint": fingerprint}))
    return output_dir


def test_a_damaged_checkpoint_is_named_and_kept(tmp_path):
    output = claimed(tmp_path / "checkpoints")
    folder = fake_checkpoint(output, 4, state='{"global_step": 4, "log_hi')
    with pytest.raises(ResourceError) as raised:
        train._last_checkpoint(output, "abc")
    assert f"{folder}: damaged checkpoint: trainer_state.json is not valid JSON" in str(raised.value)
    assert f"delete {folder}" in raised.value.fix and folder.exists()  # the learner decides, nothing is deleted


def test_damaged_weights_in_a_checkpoint_are_named(tmp_path):
    output = claimed(tmp_path / "checkpoints")
    folder = fake_checkpoint(output, 4)
    (folder / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a hea")
    with pytest.raises(ResourceError, match="adapter_model.safetensors cannot be read"):
        train._last_checkpoint(output, "abc")


def test_a_checkpoint_cut_off_while_saving_is_removed_and_the_one_before_resumes(tmp_path):
    output = claimed(tmp_path / "checkpoints")
    earlier = fake_checkpoint(output, 4)
    cut_off = fake_checkpoint(output, 8, state=None)
    assert train._last_checkpoint(output, "abc") == str(earlier) and not cut_off.exists()


def test_a_damaged_run_fingerprint_is_named(tmp_path):
    output = claimed(tmp_path / "checkpoints")
    (output / train.FINGERPRINT).write_text('{"finger')
    with pytest.raises(ResourceError, match="labkit-run.json: labkit-run.json is damaged"):
        train._last_checkpoint(output, "abc")


def test_a_full_disk_while_saving_a_checkpoint(tmp_path, monkeypatch, tokenizer, profile):
    """The one real training run: two steps of the tiny Llama, a checkpoint each; the second finds the disk full."""
    from transformers.trainer_callback import TrainerState

    real, calls = TrainerState.save_to_json, []

    def save_to_json(self, path):
        calls.append(path)
        if len(calls) == 2:
            with open(path, "w") as handle:  # a piece written, as a filling disk leaves it
                handle.write('{"global_')
            os.remove(path)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, path)

    monkeypatch.setattr(TrainerState, "save_to_json", save_to_json)
    records = [{"question": f"Code word {i}?", "answer": f"W{i % 2}"} for i in range(8)]
    dataset = data.to_dataset(data.qa_to_chat(records))
    output = tmp_path / "checkpoints"
    with pytest.raises(ResourceError) as raised:
        train.train_sft(models.tiny_llama(vocab_size=len(tokenizer)), tokenizer, dataset, profile, output,
                        max_steps=2, save_steps=1, per_device_train_batch_size=4, max_length=64, live_plot=False)
    assert str(raised.value).startswith(f"{output}: cannot write here: the disk is full")
    assert sorted(p.name for p in output.glob("checkpoint-*")) == ["checkpoint-1"]  # the cut-off one is gone
    fingerprint = json.loads((output / train.FINGERPRINT).read_text())["fingerprint"]
    assert train._last_checkpoint(output, fingerprint) == str(output / "checkpoint-1")  # a re-run resumes there
