"""Checking accelerate config files for machines we do not have (notebook 24).

FSDP and DeepSpeed need GPUs (DeepSpeed is not even installable on many laptops), so their
config files cannot be checked by running them here. What can be checked: that accelerate reads
the file (its own ``ClusterConfig.from_yaml_file``, which rejects unknown top-level keys), that
every key under ``fsdp_config`` / ``deepspeed_config`` is a field of accelerate's
``FullyShardedDataParallelPlugin`` / ``DeepSpeedPlugin`` (or a launcher option), and that the
values a typo most often breaks (ZeRO stage, offload devices, process counts) are possible.
A mistake is reported as a :class:`~labkit.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from labkit.errors import ConfigError

# the course's example configs (FSDP, DeepSpeed ZeRO-2/3, several machines)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "accelerate"

# accelerate's YAML names for FSDP fields that the plugin calls differently
FSDP_ALIASES = {"offload_params": "cpu_offload", "transformer_layer_cls_to_wrap": "transformer_cls_names_to_wrap"}
# keys `accelerate launch` reads itself rather than passing to DeepSpeedPlugin
DEEPSPEED_LAUNCHER_KEYS = {"deepspeed_config_file", "deepspeed_multinode_launcher", "deepspeed_hostfile",
                           "deepspeed_exclusion_filter", "deepspeed_inclusion_filter", "deepspeed_moe_layer_cls_names"}
OFFLOAD_DEVICES = {"none", "cpu", "nvme"}


def _fields(plugin) -> set[str]:
    return {field.name for field in dataclasses.fields(plugin)}


def _check_fsdp(section: dict, where: str) -> None:
    from accelerate.utils import FullyShardedDataParallelPlugin

    known = _fields(FullyShardedDataParallelPlugin)
    for key, value in section.items():
        short = key.removeprefix("fsdp_")
        name = key if key in known else FSDP_ALIASES.get(short, short)  # fsdp_version keeps its prefix
        if not key.startswith("fsdp_") or name not in known:
            raise ConfigError(f"unknown FSDP option {key!r}", f"{where}: key 'fsdp_config.{key}'",
                              "accelerate names them fsdp_<field of FullyShardedDataParallelPlugin>")
    if section.get("fsdp_version", 1) not in (1, 2):
        raise ConfigError(f"FSDP has versions 1 and 2, not {section['fsdp_version']!r}",
                          f"{where}: key 'fsdp_config.fsdp_version'", "use 2 (PyTorch's fully_shard)")


def _check_deepspeed(section: dict, where: str) -> None:
    from accelerate.utils import DeepSpeedPlugin

    known = _fields(DeepSpeedPlugin) | DEEPSPEED_LAUNCHER_KEYS
    for key in section:
        if key not in known:
            raise ConfigError(f"unknown DeepSpeed option {key!r}", f"{where}: key 'deepspeed_config.{key}'",
                              "use a field of accelerate's DeepSpeedPlugin, e.g. zero_stage, offload_optimizer_device")
    if section.get("zero_stage") not in (0, 1, 2, 3):
        raise ConfigError(f"zero_stage must be 0, 1, 2 or 3, not {section.get('zero_stage')!r}",
                          f"{where}: key 'deepspeed_config.zero_stage'", "2 shards gradients too, 3 also the weights")
    for key in ("offload_optimizer_device", "offload_param_device"):
        if str(section.get(key, "none")) not in OFFLOAD_DEVICES:
            raise ConfigError(f"{key} must be one of {sorted(OFFLOAD_DEVICES)}, not {section[key]!r}",
                              f"{where}: key 'deepspeed_config.{key}'", "none keeps it on the GPU")


def load_accelerate_config(path: str | Path):
    """Read ``path`` with accelerate's own reader and check its FSDP / DeepSpeed section; returns the ClusterConfig."""
    from accelerate.commands.config.config_args import ClusterConfig

    where = str(path)
    try:
        config = ClusterConfig.from_yaml_file(str(path))
    except (ValueError, TypeError) as error:
        raise ConfigError(str(error).split("\n")[0], where, "compare it with the files in configs/accelerate/") from None
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        raise ConfigError("not valid YAML", f"{where}:{line + 1}" if line is not None else where,
                          "check the indentation and colons") from None
    kind = str(config.distributed_type).split(".")[-1]
    if kind == "FSDP":
        _check_fsdp(config.fsdp_config, where)
    elif kind == "DEEPSPEED":
        _check_deepspeed(config.deepspeed_config, where)
    if config.num_machines < 1 or config.num_processes < config.num_machines:
        raise ConfigError(f"{config.num_processes} processes on {config.num_machines} machines",
                          f"{where}: key 'num_processes'", "num_processes counts all processes on all machines")
    if config.num_machines > 1 and not config.main_process_ip:
        raise ConfigError("several machines but no main_process_ip", f"{where}: key 'main_process_ip'",
                          "give the address of the machine with machine_rank 0")
    return config
