"""Precision: the gpu profile picks fp16 or bf16 by what the GPU multiplies in hardware (faked devices
here), the precision overrides work, and every training entry point keeps fp32 master weights when
the model arrives in half precision."""

import math
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForSequenceClassification

import labkit
from labkit import data, evaluate, profiles, train
from labkit.alignment import align, dpo, ppo, preferences, reward
from labkit.tuning import adapters

T4 = ((7, 5), 15.6)  # compute capability, memory in GiB (what a free Colab T4 reports)
L4 = ((8, 9), 22.0)
A100 = ((8, 0), 79.2)


def fake_gpu(monkeypatch, capability, memory_gib):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device=None: SimpleNamespace(total_memory=int(memory_gib * 2**30)))
    # what the old check trusted: True on a T4 too, because it counts emulation
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)


@pytest.mark.parametrize("gpu, dtype, batch", [(T4, "float16", 8), (L4, "bfloat16", 16), (A100, "bfloat16", 16)],
                         ids=["T4", "L4", "A100"])
def test_the_gpu_profile_chooses_by_hardware(monkeypatch, gpu, dtype, batch):
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    monkeypatch.delenv("LABKIT_DTYPE", raising=False)
    fake_gpu(monkeypatch, *gpu)
    chosen = labkit.profile()
    assert chosen.name == "gpu" and chosen.device == "cuda"
    assert chosen.dtype == dtype and chosen.per_device_train_batch_size == batch
    settings = train.run_settings(chosen, "/tmp/unused", max_steps=1)  # what every trainer config is built from
    assert settings["fp16"] == (dtype == "float16") and settings["bf16"] == (dtype == "bfloat16")


def test_forward_autocast_on_a_gpu_follows_the_same_rule(monkeypatch):
    fake_gpu(monkeypatch, *T4)
    assert evaluate.autocast(torch.device("cuda")).fast_dtype == torch.float16
    fake_gpu(monkeypatch, *A100)
    assert evaluate.autocast(torch.device("cuda")).fast_dtype == torch.bfloat16


def test_without_cuda_the_default_is_cpu_and_gpu_is_refused(monkeypatch):
    monkeypatch.delenv("LABKIT_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert labkit.profile().name == "cpu"
    with pytest.raises(ValueError, match="LABKIT_PROFILE=cpu"):
        labkit.profile("gpu")


def test_dtype_override_and_its_check(monkeypatch):
    monkeypatch.setenv("LABKIT_DTYPE", "float16")
    assert labkit.profile("ci").dtype == "float16"
    assert labkit.profile("ci").torch_dtype == torch.float16
    monkeypatch.setenv("LABKIT_DTYPE", "half")
    with pytest.raises(ValueError, match="float32, float16 or bfloat16"):
        labkit.profile("ci")


def test_model_overrides(monkeypatch):
    monkeypatch.setenv("LABKIT_LM", "tiny-llama")
    monkeypatch.setenv("LABKIT_ENCODER", "some/encoder")
    chosen = labkit.profile("cpu")
    assert (chosen.lm, chosen.encoder) == ("tiny-llama", "some/encoder")
    monkeypatch.delenv("LABKIT_LM")
    assert labkit.profile("cpu").lm == profiles.PROFILES["cpu"].lm


def test_cpu_bf16_can_be_switched_off(monkeypatch, profile):
    monkeypatch.setenv("LABKIT_CPU_BF16", "0")
    assert not train.cpu_has_bf16()
    assert not train.sft_config(profile, "/tmp/unused").bf16
    assert isinstance(evaluate.autocast(torch.device("cpu")), type(__import__("contextlib").nullcontext()))


def test_tolerance_is_named_per_precision():
    ci = profiles.PROFILES["ci"]
    assert ci.tolerance(1e-4, 2e-3, 3e-2) == 1e-4
    assert replace(ci, dtype="float16").tolerance(1e-4, 2e-3, 3e-2) == 2e-3
    assert replace(ci, dtype="bfloat16").tolerance(1e-4, 2e-3, 3e-2) == 3e-2


# --- fp32 master weights at every training entry point --------------------------------------------

@pytest.fixture
def fp16(profile):
    """The ci profile with the T4's precision: trainers run fp16 mixed precision (on the CPU here)."""
    return replace(profile, dtype="float16")


@pytest.fixture
def half_model(tiny_model):
    return tiny_model.to(torch.float16)


def assert_fp32_master_weights(model, some_frozen_half: bool):
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for p in trainable)
    if some_frozen_half:
        assert frozen and all(p.dtype == torch.float16 for p in frozen)  # the base keeps its memory saving


def qa_set():
    return data.to_dataset(data.qa_to_chat([{"question": f"What is {i} plus one?", "answer": str(i + 1)}
                                            for i in range(8)]))


def pair_set():
    return data.to_dataset(preferences.conversational(preferences.load("train")[:8]))


COMMON = dict(max_steps=2, per_device_train_batch_size=4, learning_rate=1e-3, live_plot=False, resume=False)


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_sft(half_model, tokenizer, fp16, tmp_path, lora):
    model, result = train.train_sft(half_model, tokenizer, qa_set(), fp16, tmp_path, lora=lora, **COMMON)
    assert result.steps == 2 and all(math.isfinite(loss) for _, loss in result.losses)
    assert_fp32_master_weights(model, some_frozen_half=lora)


def test_dpo(half_model, tokenizer, fp16, tmp_path):
    model, result = dpo.train_dpo(half_model, tokenizer, pair_set(), fp16, tmp_path,
                                  peft_config=train.lora_config(fp16, r=4), **COMMON)
    assert result.steps == 2
    assert_fp32_master_weights(model, some_frozen_half=True)


@pytest.mark.parametrize("method", ["orpo", "kto"])
def test_orpo_and_kto(half_model, tokenizer, fp16, tmp_path, method):
    trainer = align.train_orpo if method == "orpo" else align.train_kto
    model, result = trainer(half_model, tokenizer, pair_set(), fp16, tmp_path,
                            peft_config=train.lora_config(fp16, r=4), **COMMON)
    assert result.steps == 2
    assert_fp32_master_weights(model, some_frozen_half=True)


@pytest.fixture
def half_reward_model(tokenizer):
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(0)
    return LlamaForSequenceClassification(config).to(torch.float16)


def test_reward(half_reward_model, tokenizer, fp16, tmp_path):
    """A full fine-tune (notebook 17's MiniLM). With LoRA the fp32 score head meets fp16 hidden states, which
    CUDA autocast reconciles and the CPU does not; that case belongs to tools/gpu_check.sh."""
    pairs = [{"prompt": f"Question {i}?", "chosen": "Yes.", "rejected": "No, never."} for i in range(8)]
    model, result = reward.train_reward(half_reward_model, tokenizer, pairs, fp16, tmp_path,
                                        max_steps=2, per_device_train_batch_size=4, resume=False)
    assert result.steps == 2 and all(math.isfinite(loss) for _, loss in result.losses)
    assert_fp32_master_weights(model, some_frozen_half=False)


def test_classifier(half_reward_model, tokenizer, fp16, tmp_path):
    texts = data.to_dataset([{"text": f"ticket {i}", "label": 0} for i in range(8)])
    model, result = train.train_classifier(half_reward_model, tokenizer, texts, fp16, tmp_path,
                                           max_steps=2, per_device_train_batch_size=4, resume=False)
    assert result.steps == 2
    assert_fp32_master_weights(model, some_frozen_half=False)


def test_ppo(half_model, tokenizer):
    policy = get_peft_model(half_model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                   task_type="CAUSAL_LM"))
    config = ppo.PPOConfig(max_steps=1, per_device_train_batch_size=2, num_mini_batches=1, num_ppo_epochs=1,
                           response_length=4)
    result = ppo.train_ppo(policy, tokenizer, ["Say hi.", "Say yes."], lambda prompts, replies: [float(len(r)) for r in replies], config)
    assert len(result.logs) == 1 and math.isfinite(result.logs[0]["reward"])
    assert_fp32_master_weights(policy, some_frozen_half=True)


def test_adapter_training_loop(half_model, tokenizer):
    task = adapters.Task("toy", ["The capital of France is", "Hello"] * 2, [" Paris", " world"] * 2)
    half_model.requires_grad_(True)  # a full fine-tune through the zoo's loop, from half-precision weights
    run = adapters.train_steps(half_model, tokenizer, task, steps=2, learning_rate=1e-3, batch_size=2)
    assert all(math.isfinite(loss) for loss in run.losses)
    assert_fp32_master_weights(half_model, some_frozen_half=False)
