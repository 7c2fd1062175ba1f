import pytest
import torch
from transformers import TrainerCallback

import labkit
from labkit import data, train
from labkit.alignment import dpo, preferences


@pytest.fixture
def pairs():
    return data.to_dataset(preferences.conversational(preferences.load("train")[:16]))


def test_config_has_the_fast_defaults(profile, tmp_path):
    config = dpo.dpo_config(profile, tmp_path, max_steps=3)
    assert config.max_steps == 3 and config.max_length == profile.max_length
    assert config.precompute_ref_log_probs and not config.gradient_checkpointing
    assert config.use_cpu and config.bf16 == train.cpu_has_bf16()  # bf16 autocast where the CPU has bf16 matmuls
    assert dpo.dpo_config(profile, tmp_path, beta=0.5).beta == 0.5


def test_lora_dpo_logs_a_loss_and_changes_only_the_adapter(tiny_model, tokenizer, pairs, profile, tmp_path):
    before = {n: p.detach().clone() for n, p in tiny_model.named_parameters()}
    model, result = dpo.train_dpo(tiny_model, tokenizer, pairs, profile, tmp_path, max_steps=3,
                                  per_device_train_batch_size=4, learning_rate=1e-2,
                                  peft_config=train.lora_config(profile, r=4))
    assert result.steps == 3 and len(result.losses) == 3
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in result.losses)
    assert any("rewards/accuracies" in row for row in result.log_history)
    assert 0 < result.trainable_parameters < 100_000
    lora = {n: p for n, p in model.named_parameters() if "lora_B" in n}
    assert lora and any(p.abs().sum() > 0 for p in lora.values())  # lora_B starts at zero: it moved
    base = dict(model.get_base_model().named_parameters())
    name = "model.layers.0.self_attn.q_proj.base_layer.weight"
    assert torch.equal(base[name], before["model.layers.0.self_attn.q_proj.weight"])  # the base is untouched
    assert not model.training


class Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 3:
            raise KeyboardInterrupt("simulated interruption")


def test_an_interrupted_dpo_run_resumes(tokenizer, pairs, profile, tmp_path):
    settings = dict(max_steps=4, save_steps=2, per_device_train_batch_size=4, peft_config=train.lora_config(profile, r=4))
    with pytest.raises(KeyboardInterrupt):
        dpo.train_dpo(labkit.models.tiny_llama(vocab_size=len(tokenizer)), tokenizer, pairs, profile, tmp_path,
                      callbacks=[Interrupt()], **settings)
    fresh = labkit.models.tiny_llama(vocab_size=len(tokenizer))
    _, result = dpo.train_dpo(fresh, tokenizer, pairs, profile, tmp_path, **settings)
    assert result.resumed_from.endswith("checkpoint-2")
    assert result.steps == 4 and [step for step, _ in result.losses] == [1, 2, 3, 4]
