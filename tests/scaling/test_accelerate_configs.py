from pathlib import Path

import pytest

from labkit.errors import ConfigError
from labkit.scaling.accelerate_configs import load_accelerate_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs" / "accelerate").glob("*.yaml"))


def test_there_are_configs_for_fsdp_zero2_zero3_and_several_machines():
    assert {p.stem for p in CONFIGS} >= {"fsdp", "deepspeed_zero2", "deepspeed_zero3", "multi_node"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = load_accelerate_config(path)
    assert config.num_processes >= 2


@pytest.mark.parametrize("edit, where", [
    (("zero_stage: 2", "zero_stage: 4"), "deepspeed_config.zero_stage"),
    (("offload_param_device: none", "offload_param_device: gpu"), "deepspeed_config.offload_param_device"),
    (("gradient_clipping", "gradient_clip"), "deepspeed_config.gradient_clip"),
])
def test_a_broken_deepspeed_config_names_the_file_and_key(tmp_path, edit, where):
    text = (CONFIGS[0].parent / "deepspeed_zero2.yaml").read_text().replace(*edit)
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=rf"bad.yaml: key '{where}'"):
        load_accelerate_config(tmp_path / "bad.yaml")


def test_a_broken_fsdp_config_and_a_stray_top_level_key(tmp_path):
    text = (CONFIGS[0].parent / "fsdp.yaml").read_text()
    (tmp_path / "fsdp.yaml").write_text(text.replace("fsdp_offload_params", "fsdp_offload_everything"))
    with pytest.raises(ConfigError, match="fsdp_config.fsdp_offload_everything"):
        load_accelerate_config(tmp_path / "fsdp.yaml")
    (tmp_path / "top.yaml").write_text(text + "num_gpus: 4\n")
    with pytest.raises(ConfigError, match="top.yaml.*unknown keys"):
        load_accelerate_config(tmp_path / "top.yaml")


def test_several_machines_need_the_main_address(tmp_path):
    text = (CONFIGS[0].parent / "multi_node.yaml").read_text()
    (tmp_path / "m.yaml").write_text("\n".join(l for l in text.splitlines() if not l.startswith("main_process_ip")))
    with pytest.raises(ConfigError, match="main_process_ip"):
        load_accelerate_config(tmp_path / "m.yaml")


def test_broken_yaml_names_the_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("distributed_type: FSDP\nfsdp_config:\n  fsdp_version: [2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_accelerate_config(tmp_path / "bad.yaml")
