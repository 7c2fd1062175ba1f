"""The run config of the seven-stage pipeline: one YAML file, checked before any work starts.

A config has one section per stage that needs settings (``data``, ``model``, ``training``,
``lora``, ``evaluation``, ``export``, ``monitoring``) plus ``profile`` and ``run_name`` at the
top. Each section is a dataclass, so its fields are the only valid keys, their type hints are the
expected types, and their defaults are what an omitted key means. A value left at ``None`` is
filled from the profile (``training.max_steps`` from ``profile.max_steps`` ...), so one config runs
unchanged in ``ci``, ``cpu`` and ``gpu``.

:func:`load_config` rejects an unknown key (naming the section and the closest valid key), a
wrong type (expected vs got) and a missing data file (key and path) with a :class:`ConfigError`,
before a model is loaded or a file is written.
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
from labkit.models import OFFLINE_MODELS
from labkit.profiles import PROFILE_NAMES, Profile

# qa and prompt-completion: one question, one answer; chat: conversations, loss on every assistant turn
SUPPORTED_SCHEMAS = ("qa", "prompt-completion", "chat")


class ConfigError(ValueError):
    """A run config that cannot run; the message names the key, what is wrong and what to do."""


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
        """The config as plain data (what ``config.yaml`` in the run folder holds)."""
        return {k: v for k, v in asdict(self).items() if k != "source"}

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
    return f"did you mean {close[0]!r}? " if close else ""


def _build(cls, values: Any, where: str):
    """A dataclass from a mapping, checking every key and type; ``where`` names the section."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where or 'the config'}: expected a mapping of keys to values, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in fields(cls) if f.name != "source"]
    kwargs = {}
    for key, value in values.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in valid:
            raise ConfigError(f"unknown key {name!r}: {_suggest(str(key), valid)}"
                              f"valid keys{' in ' + where if where else ''}: {', '.join(valid)}")
        hint = hints[key]
        if is_dataclass(hint):
            kwargs[key] = _build(hint, value if value is not None else {}, name)
        elif not _matches(value, hint):
            raise ConfigError(f"key {name!r}: expected {_type_name(hint)}, got {type(value).__name__} ({value!r})")
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


def _check_values(config: PipelineConfig) -> None:
    base = Path(config.source).parent if config.source else None
    if config.profile is not None and config.profile not in PROFILE_NAMES:
        raise ConfigError(f"key 'profile': {config.profile!r} is not a profile; "
                          f"{_suggest(config.profile, list(PROFILE_NAMES))}choose one of {', '.join(PROFILE_NAMES)}")
    if not config.data.train_file:
        raise ConfigError("key 'data.train_file' is required: the JSONL file to fine-tune on")
    for key in ("train_file", "test_file"):
        value = getattr(config.data, key)
        if value and not resolve_data_file(value, base).is_file():
            raise ConfigError(f"key 'data.{key}': file not found: {resolve_data_file(value, base)} "
                              f"(relative paths are read from the config's folder, then from {data_dir()})")
    if config.data.schema not in SUPPORTED_SCHEMAS:
        raise ConfigError(f"key 'data.schema': {config.data.schema!r} is not supported here; "
                          f"choose one of {', '.join(SUPPORTED_SCHEMAS)} (fields: "
                          + "; ".join(f"{s}: {', '.join(SCHEMAS[s])}" for s in SUPPORTED_SCHEMAS) + ")")
    if not 0 < config.data.test_fraction < 1:
        raise ConfigError(f"key 'data.test_fraction': must be between 0 and 1, got {config.data.test_fraction}")
    name = config.model.name
    if name is not None and name not in OFFLINE_MODELS and "/" not in name:
        raise ConfigError(f"key 'model.name': {name!r} is neither a course model ({', '.join(OFFLINE_MODELS)}) "
                          "nor a Hub id or folder (owner/name)")


def parse_config(values: dict, source: str | None = None) -> PipelineConfig:
    """A checked :class:`PipelineConfig` from plain data (e.g. parsed YAML)."""
    config = _build(PipelineConfig, values or {}, "")
    config.source = source
    _check_values(config)
    return config


def load_config(path: str | Path) -> PipelineConfig:
    """Read and check a YAML run config; raise :class:`ConfigError` naming the bad key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    try:
        return parse_config(values, source=str(path.resolve()))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def with_profile(config: PipelineConfig, profile: Profile) -> PipelineConfig:
    """The config with every ``None`` size filled from the profile: what actually runs."""
    model = replace(config.model, name=config.model.name or profile.lm, dtype=config.model.dtype or profile.dtype)
    training = replace(config.training, **{
        key: getattr(profile, key) for key in ("max_steps", "learning_rate", "per_device_train_batch_size", "max_length")
        if getattr(config.training, key) is None})
    lora = replace(config.lora, r=config.lora.r or profile.lora_r, lora_alpha=config.lora.lora_alpha or profile.lora_alpha)
    evaluation = replace(config.evaluation, limit=config.evaluation.limit or profile.eval_limit)
    return replace(config, profile=profile.name, model=model, training=training, lora=lora, evaluation=evaluation)
