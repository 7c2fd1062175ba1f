import dataclasses

import pytest
import torch
from trl import SFTConfig

import labkit
from labkit.errors import ConfigError
from labkit.profiles import PROFILE_NAMES, PROFILES


def test_env_var_chooses_profile(monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "ci")
    assert labkit.profile().name == "ci"
    assert labkit.profile("cpu").name == "cpu"  # an explicit name wins over the variable


def test_auto_detects_cpu_without_cuda(monkeypatch):
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert labkit.profile().name == "cpu"


def test_unknown_and_impossible_profiles_say_what_works(monkeypatch):
    with pytest.raises(ConfigError, match="ci, cpu, gpu"):
        labkit.profile("laptop")
    monkeypatch.setenv("LABKIT_PROFILE", "laptop")
    with pytest.raises(ConfigError, match="^LABKIT_PROFILE: 'laptop' is not a profile"):
        labkit.profile()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="LABKIT_PROFILE=cpu"):
        labkit.profile("gpu")


def test_offline_profiles_use_embedded_models_and_gpu_uses_hub_names():
    for name in ("ci", "cpu"):
        assert "/" not in PROFILES[name].lm and PROFILES[name].device == "cpu"
    assert "/" in PROFILES["gpu"].lm and PROFILES["gpu"].dtype == "float16"  # fp16 runs on a T4


def test_ci_is_the_smallest_budget():
    ci, cpu = PROFILES["ci"], PROFILES["cpu"]
    assert ci.max_steps <= cpu.max_steps and ci.max_length <= cpu.max_length


def test_pick_needs_every_profile():
    assert PROFILES["ci"].pick(ci=1, cpu=2, gpu=3) == 1
    with pytest.raises(ValueError, match="gpu"):
        PROFILES["ci"].pick(ci=1, cpu=2)


def test_training_fields_are_trl_argument_names():
    config_fields = {f.name for f in dataclasses.fields(SFTConfig)}
    for name in ("max_length", "per_device_train_batch_size", "max_steps", "learning_rate"):
        assert name in config_fields


def test_profile_prints_its_fields():
    text = str(PROFILES["ci"])
    assert text.startswith("labkit profile 'ci'") and "max_steps" in text
    assert set(PROFILES) == set(PROFILE_NAMES)
