"""The run config of the seven-stage pipeline: one YAML file, checked before any work starts.

A config has one section per stage that needs settings (``data``, ``model``, ``training``,
``lora``, ``evaluation``, ``export``, ``monitoring``) plus ``profile`` and ``run_name`` at the
top. Each section is a dataclass, so its fields are the only valid keys, their type hints are the
expected types, and their defaults are what an omitted key means. A value left at ``None`` is
filled from the profile (``training.max_steps`` from ``profile.max_steps`` ...), so one config runs
unchanged in ``ci``, ``cpu`` and ``gpu``.

:func:`load_config` rejects an unknown key (naming the section and the closest valid key), a
wrong type (expected vs got), an impossible value (zero steps, a negative learning rate, rank 0)
and a missing data file (key and path) with a :class:`~labkit.errors.ConfigError` naming the file
and key, before a model is loaded or a file is written.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from labkit.data import SCHEMAS, data_dir
from labkit.errors import ConfigError
from labkit.profiles import PROFILE_NAMES, Profile
from labkit.seeding import shifted

# qa and prompt-completion: one question, one answer; chat: conversations, loss on every assistant turn
SUPPORTED_SCHEMAS = ("qa", "prompt-completion", "chat")
DTYPES = ("float32", "bfloat16", "float16")

@dataclass
class DataSection:
    """Stage 1: which JSONL file, its schema, and how to clean and split it."""

    train_file: str = ""  # a course file name (facts.jsonl) or a path, relative to the config file
    schema: str = "qa"  # qa (question/answer), prompt-completion or chat (messages)
    test_file: str | None = None  # a held-out file; else the records' split field, else test_fraction
    split_field: str = "split"  # records with split == "test" are held out
    test_fraction: float = 0.2  # used when there is neither a test file nor a split field
    max_chars: int = 2000  # drop records longer than this (prompt + answer, or all turns of a conversation)
    system_prompt: str | None = None  # added to conversations without a system message of their own
    # a training record that asks a held-out question: false drops the held-out record (the score stays
    # honest, the test set shrinks); true drops the training record (the test set stays whole: a capstone's
    # fixed split)
    dedupe_against_test: bool = False


@dataclass
class ModelSection:
    """Stage 2: the base model; ``None`` means the profile's (``profile.lm``, ``profile.dtype``)."""

    name: str | None = None
    dtype: str | None = None


@dataclass
class TrainingSection:
    """Stages 3-4: TRL SFTConfig fields; ``None`` takes the profile's value."""

    max_steps: int | None = None
    learning_rate: float | None = None
    per_device_train_batch_size: int | None = None
    max_length: int | None = None
    seed: int = 42


@dataclass
class LoraSection:
    """Stage 4: peft LoraConfig fields; ``None`` takes the profile's value."""

    r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"


@dataclass
class EvaluationSection:
    """Stage 5: held-out metrics before and after fine-tuning."""

    max_new_tokens: int = 24
    limit: int | None = None  # at most this many held-out records; None: profile.eval_limit


@dataclass
class ExportSection:
    """Stage 6: merge the adapter into the base model and save it."""

    enabled: bool = True
    check_prompt: str = "Hello! Who are you?"  # the merged and the adapter model must answer alike


@dataclass
class MonitoringSection:
    """Stage 7: append a record to a JSON-lines log and compare with the baseline."""

    log_file: str = "monitoring.jsonl"  # relative to the stage's folder in the run folder
    max_regression: float = 0.05  # alert if answer-match falls this far below the base model or last run


# (section, key): default, for keys added after the config format was in use (left out of to_dict at their default)
ADDED_KEYS = {("data", "dedupe_against_test"): False}


@dataclass
class PipelineConfig:
    """A whole run: the profile, the run's name and one section per stage."""

    run_name: str = "pipeline"
    profile: str | None = None  # ci, cpu or gpu; None: $LABKIT_PROFILE or auto-detection
    data: DataSection = field(default_factory=DataSection)
    model: ModelSection = field(default_factory=ModelSection)
    training: TrainingSection = field(default_factory=TrainingSection)
    lora: LoraSection = field(default_factory=LoraSection)
    evaluation: EvaluationSection = field(default_factory=EvaluationSection)
    export: ExportSection = field(default_factory=ExportSection)
    monitoring: MonitoringSection = field(default_factory=MonitoringSection)
    source: str | None = field(default=None, repr=False)  # the YAML file it came from (not a key)

    def to_dict(self) -> dict:
        """The config as plain data (what ``config.yaml`` in the run folder holds).

        A key added after configs were in use is left out while it holds its default, so an older
        config keeps its hash and the run folders stamped with it stay its own (see :data:`ADDED_KEYS`).
        """
        values = {k: v for k, v in asdict(self).items() if k != "source"}
        for (section, key), default in ADDED_KEYS.items():
            if values[section][key] == default:
                del values[section][key]
        return values

    def config_hash(self) -> str:
        """A short hash of the settings: a run folder belongs to one config."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


# ---- type checking -------------------------------------------------------------------------

def _type_name(hint: Any) -> str:
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a type hint (ints pass as floats; a bool is not an int)."""
    if hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_matches(value, option) for option in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _suggest(key: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f", did you mean {close[0]!r}?" if close else ""


def _type_fix(value: Any, hint: Any) -> str:
    if isinstance(value, str) and _matches(1.0, hint):
        try:
            float(value)
            return f"YAML reads {value} as text: write the number as 0.001 or 1.0e-3 (a dot before the e), without quotes"
        except ValueError:
            pass
    return f"write a value of type {_type_name(hint)}" + (" (null takes the default)" if _matches(None, hint) else "")


def _build(cls, values: Any, where: str):
    """A dataclass from a mapping, checking every key and type; ``where`` names the section."""
    if not isinstance(values, dict):
        raise ConfigError(f"expected a mapping of keys to values, got {type(values).__name__}",
                          f"key {where!r}" if where else "",
                          "write one 'key: value' per line" + (f", indented under '{where}:'" if where else ""))
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls) if f.name != "source"]
    kwargs = {}
    for key, value in values.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in valid:
            raise ConfigError(f"unknown key{_suggest(str(key), valid)}", f"key {name!r}",
                              f"use one of the keys{' of ' + where if where else ''}: {', '.join(valid)}")
        hint = hints[key]
        if is_dataclass(hint):
            kwargs[key] = _build(hint, value if value is not None else {}, name)
        elif not _matches(value, hint):
            raise ConfigError(f"expected {_type_name(hint)}, got {type(value).__name__} ({value!r})",
                              f"key {name!r}", _type_fix(value, hint))
        else:
            kwargs[key] = value
    return cls(**kwargs)


# ---- loading and checking ------------------------------------------------------------------

def resolve_data_file(value: str, base: Path | None) -> Path:
    """A data file named in a config: relative to the config's folder, else a course data file."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    if base is not None and (base / path).exists():
        return base / path
    return path if path.exists() else data_dir() / path


def _require(ok: bool, key: str, value: Any, need: str, fix: str) -> None:
    if not ok:
        raise ConfigError(f"must be {need}, got {value!r}", f"key {key!r}", fix)


def _check_files(config: PipelineConfig) -> None:
    base = Path(config.source).parent if config.source else None
    if not config.data.train_file:
        raise ConfigError("is required", "key 'data.train_file'", "name the JSONL file to fine-tune on")
    for key in ("train_file", "test_file"):
        value = getattr(config.data, key)
        path = resolve_data_file(value, base) if value else None
        if path is not None and path.is_dir():
            raise ConfigError(f"{path} is a folder, not a file", f"key 'data.{key}'", "name a .jsonl file")
        if path is not None and not path.is_file():
            raise ConfigError(f"file not found: {path}", f"key 'data.{key}'",
                              f"relative paths are read from the config's folder, then from {data_dir()}")


def _check_sizes(config: PipelineConfig) -> None:
    """Values no run can use; ``None`` (take the profile's) always passes."""
    t, lo, ev, d = config.training, config.lora, config.evaluation, config.data
    positive = [("training.max_steps", t.max_steps, "the number of optimizer steps, e.g. 30"),
                ("training.per_device_train_batch_size", t.per_device_train_batch_size, "e.g. 8"),
                ("training.max_length", t.max_length, "tokens per training sequence, e.g. 128"),
                ("lora.r", lo.r, "the adapter's rank, e.g. 8 or 16"),
                ("lora.lora_alpha", lo.lora_alpha, "usually twice the rank"),
                ("evaluation.max_new_tokens", ev.max_new_tokens, "e.g. 24"),
                ("evaluation.limit", ev.limit, "at most this many held-out records, or null for the profile's"),
                ("data.max_chars", d.max_chars, "e.g. 2000")]
    for key, value, example in positive:
        _require(value is None or value >= 1, key, value, "at least 1", example)
    _require(t.learning_rate is None or t.learning_rate > 0, "training.learning_rate", t.learning_rate,
             "greater than 0", "use a small positive rate such as 0.001, or null for the profile's")
    _require(0 <= t.seed < 2**32, "training.seed", t.seed, "between 0 and 2**32 - 1", "e.g. 42")
    _require(0 <= lo.lora_dropout < 1, "lora.lora_dropout", lo.lora_dropout, "at least 0 and below 1", "e.g. 0.0 or 0.05")
    _require(bool(lo.target_modules), "lora.target_modules", lo.target_modules, "a module name or a non-empty list",
             "all-linear, or a list such as [q_proj, v_proj]")
    _require(0 < d.test_fraction < 1, "data.test_fraction", d.test_fraction, "between 0 and 1", "e.g. 0.2")
    _require(bool(d.split_field.strip()), "data.split_field", d.split_field, "a field name", "e.g. split")
    _require(0 <= config.monitoring.max_regression <= 1, "monitoring.max_regression", config.monitoring.max_regression,
             "between 0 and 1 (a share of answer-match)", "e.g. 0.05")
    for key, value in (("run_name", config.run_name), ("monitoring.log_file", config.monitoring.log_file)):
        _require(bool(value.strip()) and Path(value).name == value and value not in (".", ".."), key, value,
                 "a plain name (no folders)", "e.g. my_run; choose the folder with --run-dir")


def _check_values(config: PipelineConfig) -> None:
    if config.profile is not None and config.profile not in PROFILE_NAMES:
        raise ConfigError(f"{config.profile!r} is not a profile{_suggest(config.profile, list(PROFILE_NAMES))}",
                          "key 'profile'", f"choose one of {', '.join(PROFILE_NAMES)}, or null to detect it")
    _check_files(config)
    if config.data.schema not in SUPPORTED_SCHEMAS:
        raise ConfigError(f"{config.data.schema!r} is not supported here", "key 'data.schema'",
                          f"choose one of {', '.join(SUPPORTED_SCHEMAS)} (fields: "
                          + "; ".join(f"{s}: {', '.join(SCHEMAS[s])}" for s in SUPPORTED_SCHEMAS) + ")")
    if config.model.dtype is not None and config.model.dtype not in DTYPES:
        raise ConfigError(f"{config.model.dtype!r} is not a precision{_suggest(config.model.dtype, list(DTYPES))}",
                          "key 'model.dtype'", f"choose one of {', '.join(DTYPES)}, or null for the profile's")
    _check_sizes(config)


def parse_config(values: Any, source: str | None = None) -> PipelineConfig:
    """A checked :class:`PipelineConfig` from plain data (e.g. parsed YAML; ``None`` is an empty file)."""
    config = _build(PipelineConfig, {} if values is None else values, "")
    config.source = source
    _check_values(config)
    return config


def _read_yaml(path: Path) -> Any:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as Windows editors write, is fine
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ConfigError(f"byte 0x{raw[error.start]:02x} is not UTF-8", f"{path}:{line}", "save the file as UTF-8") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        what = getattr(error, "problem", None) or str(error).splitlines()[0]
        context, start = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and start is not None and start is not mark:
            context += f" that starts at line {start.line + 1}"
        raise ConfigError(f"not valid YAML: {what}" + (f" ({context})" if context else ""), where,
                          "check the indentation and brackets at that line; quote a value that holds ': ' or ' #'") from None


def load_config(path: str | Path) -> PipelineConfig:
    """Read and check a YAML run config; raise :class:`ConfigError` naming the file and the bad key."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("this is a folder, not a config file", str(path), "name a .yaml file, e.g. configs/pipeline_example.yaml")
    if not path.is_file():
        raise ConfigError("config file not found", str(path), "check the path (it is relative to the current folder)")
    values = _read_yaml(path)
    try:
        return parse_config(values, source=str(path.resolve()))
    except ConfigError as error:
        raise error.at(f"{path}: {error.where}" if error.where else str(path)) from None


def with_profile(config: PipelineConfig, profile: Profile) -> PipelineConfig:
    """The config with every ``None`` size filled from the profile: what actually runs.

    ``training.seed`` is moved by ``$LABKIT_SEED`` as every labkit training seed is
    (:func:`labkit.seeding.shifted`; unset, it stays the config's), so a run under another seed is
    another config: its hash, run folder stamp and ``resolved_config.yaml`` record the seed it used.
    """
    model = replace(config.model, name=config.model.name or profile.lm, dtype=config.model.dtype or profile.dtype)
    training = replace(config.training, seed=shifted(config.training.seed), **{
        key: getattr(profile, key) for key in ("max_steps", "learning_rate", "per_device_train_batch_size", "max_length")
        if getattr(config.training, key) is None})
    lora = replace(config.lora, r=config.lora.r or profile.lora_r, lora_alpha=config.lora.lora_alpha or profile.lora_alpha)
    evaluation = replace(config.evaluation, limit=config.evaluation.limit or profile.eval_limit)
    return replace(config, profile=profile.name, model=model, training=training, lora=lora, evaluation=evaluation)
