import json

import pytest
import torch
from transformers import TrainerCallback

import labkit
from labkit import data, train


@pytest.fixture
def dataset():
    records = [{"question": f"What is the code word number {i}?", "answer": f"Code {i % 3}"} for i in range(24)]
    return data.to_dataset(data.qa_to_chat(records))


def test_configs_follow_the_profile(profile, tmp_path):
    config = train.sft_config(profile, tmp_path, max_steps=7)
    assert config.max_steps == 7 and config.max_length == profile.max_length
    assert not config.packing and config.train_sampling_strategy == "group_by_length"
    assert config.completion_only_loss and not config.gradient_checkpointing
    assert config.bf16 == train.cpu_has_bf16()  # bf16 autocast only where the CPU multiplies bf16 natively
    assert train.lora_config(profile).r == profile.lora_r


def test_lora_sft_lowers_the_loss(tiny_model, tokenizer, dataset, profile, tmp_path):
    model, result = train.train_sft(tiny_model, tokenizer, dataset, profile, tmp_path, max_steps=12,
                                    learning_rate=5e-3, lora=train.lora_config(profile, r=8))
    losses = [loss for _, loss in result.losses]
    assert result.steps == 12 and len(losses) == 12
    assert losses[-1] < losses[0] - 0.5  # nats; a random 49k-vocab model starts near ln(49152) = 10.8
    assert 0 < result.trainable_parameters < 200_000  # only the adapters train
    assert not model.training


def test_full_fine_tune_learns_the_answers(tiny_model, tokenizer, dataset, profile, tmp_path):
    _, result = train.train_sft(tiny_model, tokenizer, dataset, profile, tmp_path, max_steps=12,
                                learning_rate=1e-2, lora=False)
    losses = [loss for _, loss in result.losses]
    assert losses[-1] < 0.5 * losses[0]
    assert result.trainable_parameters == labkit.models.parameter_count(tiny_model)


class Interrupt(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 5:
            raise KeyboardInterrupt("simulated interruption")


def test_an_interrupted_run_resumes_from_its_last_checkpoint(tiny_model, tokenizer, dataset, profile, tmp_path):
    settings = dict(max_steps=8, save_steps=4, learning_rate=5e-3)
    with pytest.raises(KeyboardInterrupt):
        train.train_sft(tiny_model, tokenizer, dataset, profile, tmp_path, callbacks=[Interrupt()], **settings)
    assert (tmp_path / "checkpoint-4").exists()
    fresh = labkit.models.tiny_llama(seed=0, vocab_size=len(tokenizer))
    _, result = train.train_sft(fresh, tokenizer, dataset, profile, tmp_path, **settings)
    assert result.resumed_from.endswith("checkpoint-4")
    # the history holds steps 1-4 restored from the checkpoint and 5-8 trained now, each once
    assert result.steps == 8 and [step for step, _ in result.losses] == list(range(1, 9))


def test_changed_settings_start_afresh(tiny_model, tokenizer, dataset, profile, tmp_path):
    train.train_sft(tiny_model, tokenizer, dataset, profile, tmp_path, max_steps=4, save_steps=4)
    fresh = labkit.models.tiny_llama(seed=0, vocab_size=len(tokenizer))
    _, result = train.train_sft(fresh, tokenizer, dataset, profile, tmp_path, max_steps=4, save_steps=4,
                                learning_rate=1e-4)
    assert result.resumed_from is None and result.steps == 4
    assert json.loads((tmp_path / train.FINGERPRINT).read_text())["fingerprint"]


def test_classifier_training_with_plain_trainer(tokenizer, profile, tmp_path):
    from transformers import LlamaConfig, LlamaForSequenceClassification

    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, num_labels=2, pad_token_id=tokenizer.pad_token_id)
    model = LlamaForSequenceClassification(config)
    records = [{"text": ("good fine great " if i % 2 else "bad awful poor ") * 3, "label": i % 2} for i in range(32)]
    _, result = train.train_classifier(model, tokenizer, data.to_dataset(records), profile, tmp_path,
                                       max_steps=15, learning_rate=1e-2)
    losses = [loss for _, loss in result.losses]
    assert result.steps == 15 and losses[-1] < 0.5 * losses[0]


def test_fp32_master_weights_upcasts_only_what_trains():
    model = labkit.models.tiny_llama().half()
    model.model.embed_tokens.weight.requires_grad_(False)
    train.fp32_master_weights(model)
    assert model.model.embed_tokens.weight.dtype == torch.float16  # frozen: left in half precision
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("completion_only_loss", [True, False])
def test_sft_trains_a_chat_dataset_on_its_assistant_tokens_only(tiny_model, tokenizer, profile, tmp_path,
                                                                completion_only_loss):
    """SFTTrainer turns ``assistant_masks`` into labels (-100 elsewhere) whatever ``completion_only_loss`` says."""
    from trl import SFTTrainer

    records = [{"messages": [{"role": "user", "content": f"Code word {i}?"}, {"role": "assistant", "content": f"Word {i}"},
                             {"role": "user", "content": "And spelt out?"}, {"role": "assistant", "content": f"W-{i}"}]}
               for i in range(4)]
    dataset = data.chat_dataset(tokenizer, records, system="Be brief.")
    config = train.sft_config(profile, tmp_path, max_steps=1, completion_only_loss=completion_only_loss)
    trainer = SFTTrainer(model=tiny_model, args=config, train_dataset=dataset, processing_class=tokenizer)
    for row, prepared in zip(dataset, trainer.train_dataset, strict=True):
        assert prepared["input_ids"] == row["input_ids"]
        assert prepared["labels"] == [t if m else -100 for t, m in zip(row["input_ids"], row["assistant_masks"])]
    scored = tokenizer.decode([t for t in trainer.train_dataset[0]["labels"] if t != -100])
    assert scored == "Word 0<|im_end|>W-0<|im_end|>"


def lora_weights(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items() if "lora_" in name}


def test_one_seed_gives_identical_losses_and_adapters(tokenizer, dataset, profile, tmp_path):
    """Same seed, same data: bit-identical runs, whatever the global RNG did before the call."""
    runs = []
    for name, noise, seed in [("a", 1, 42), ("b", 2, 42), ("other_seed", 1, 7)]:
        torch.manual_seed(noise)  # a notebook's earlier cells leave the global RNG anywhere
        model, result = train.train_sft(labkit.models.tiny_llama(seed=0, vocab_size=len(tokenizer)), tokenizer,
                                        dataset, profile, tmp_path / name, max_steps=6, learning_rate=5e-3,
                                        lora=train.lora_config(profile, r=8), seed=seed)
        runs.append((result.losses, lora_weights(model)))
    (losses_a, weights_a), (losses_b, weights_b), (losses_c, weights_c) = runs
    assert len(losses_a) == 6 and losses_a == losses_b  # exact floats, step by step
    assert weights_a.keys() == weights_b.keys() and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    # and the comparison sees the seed: another one gives other adapters (init and data order)
    assert not all(torch.equal(weights_a[k], weights_c[k]) for k in weights_a)
