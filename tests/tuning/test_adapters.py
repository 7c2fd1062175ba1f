"""adapters: the bottleneck adapter starts as the identity and trains alone; one-token task scoring;
mixed-adapter batches match one adapter at a time."""

import pytest
import torch
from peft import LoraConfig, PeftModel, PrefixTuningConfig, get_peft_model

from labkit import evaluate
from labkit.tuning import adapters

PROMPTS = ["The capital of France is", "One, two, three, four, five,", "Hello", "A cat sat on the mat and"]


@pytest.fixture
def task(tokenizer):
    return adapters.Task("toy", PROMPTS * 2, [" six", " the", " world", " mat"] * 2)


def test_multi_token_answers_are_refused(tokenizer):
    with pytest.raises(ValueError, match="one-token"):
        adapters.answer_ids(tokenizer, [" antidisestablishmentarianism"])
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        adapters.Task("bad", ["a", "b"], [" x"])


def test_accuracy_counts_arg_max_hits(tiny_model, tokenizer):
    guesses = evaluate.answer_logits(tiny_model, tokenizer, PROMPTS).argmax(-1)
    hits = adapters.Task("own guesses", PROMPTS, [tokenizer.decode(g) for g in guesses])
    assert adapters.accuracy(tiny_model, tokenizer, hits, batch_size=3) == 1.0
    wrong = [" the" if answer != " the" else " a" for answer in hits.answers[2:]]
    half = adapters.Task("half", PROMPTS, hits.answers[:2] + wrong)
    assert adapters.accuracy(tiny_model, tokenizer, half) == pytest.approx(0.5)


def test_bottleneck_adapter_starts_as_the_identity_and_comes_out_cleanly(tiny_model, tokenizer):
    reference = evaluate.answer_logits(tiny_model, tokenizer, PROMPTS, mixed_precision=False)
    added = adapters.add_bottleneck_adapters(tiny_model, bottleneck=4)
    hidden, layers = tiny_model.config.hidden_size, tiny_model.config.num_hidden_layers
    trainable = [p for p in tiny_model.parameters() if p.requires_grad]
    assert len(added) == layers
    assert sum(p.numel() for p in trainable) == layers * (2 * hidden * 4 + 4 + hidden)  # only the adapters train
    torch.testing.assert_close(evaluate.answer_logits(tiny_model, tokenizer, PROMPTS, mixed_precision=False), reference)
    with pytest.raises(ValueError, match="already has bottleneck adapters"):
        adapters.add_bottleneck_adapters(tiny_model)
    adapters.remove_bottleneck_adapters(tiny_model)
    assert not any(isinstance(m, adapters.AdaptedMLP) for m in tiny_model.modules())


def test_train_steps_change_only_the_adapters_and_lower_the_loss(tiny_model, tokenizer, task):
    frozen = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    adapters.add_bottleneck_adapters(tiny_model, bottleneck=8)
    run = adapters.train_steps(tiny_model, tokenizer, task, steps=25, learning_rate=3e-2, batch_size=4)
    assert len(run.losses) == 25 and run.seconds > 0
    # a random tiny model's logits are nearly uniform over 49k tokens (loss ~ln 49152 = 10.8); it moves a little
    assert sum(run.losses[-5:]) / 5 < run.losses[0] - 0.3
    adapters.remove_bottleneck_adapters(tiny_model)
    assert all(torch.equal(frozen[k], v) for k, v in tiny_model.state_dict().items())


def test_train_steps_refuse_a_model_with_nothing_to_train(tiny_model, tokenizer, task):
    tiny_model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        adapters.train_steps(tiny_model, tokenizer, task, steps=1, learning_rate=1e-3)


def test_batches_are_the_same_for_every_method(task):
    first = [b for _, b in zip(range(5), adapters.batches(task, batch_size=3, seed=1))]
    again = [b for _, b in zip(range(5), adapters.batches(task, batch_size=3, seed=1))]
    assert first == again and all(len(prompts) == 3 for prompts, _ in first)
    seen = [p for prompts, _ in first[:2] for p in prompts] + first[2][0][:2]  # one epoch = 8 examples
    assert sorted(seen) == sorted(task.prompts)


def test_a_mixed_adapter_batch_matches_one_adapter_at_a_time(tiny_model, tokenizer, tmp_path):
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    for name, seed in (("a", 1), ("b", 2)):  # two different random (non-zero) adapters, saved to disk
        torch.manual_seed(seed)
        model = get_peft_model(tiny_model, config)
        model.save_pretrained(tmp_path / name)
        tiny_model = model.unload()
    served = PeftModel.from_pretrained(tiny_model, tmp_path / "a", adapter_name="a")
    served.load_adapter(tmp_path / "b", adapter_name="b")
    names = ["a", "b", "b", "a"]
    one_by_one = []
    for name, prompt in zip(names, PROMPTS):
        served.set_adapter(name)
        one_by_one.append(evaluate.answer_logits(served, tokenizer, [prompt], mixed_precision=False)[0])
    mixed = evaluate.answer_logits(served, tokenizer, PROMPTS, mixed_precision=False, adapter_names=names)
    torch.testing.assert_close(mixed, torch.stack(one_by_one), atol=1e-4, rtol=1e-4)
    served.set_adapter("a")
    assert not torch.allclose(evaluate.answer_logits(served, tokenizer, PROMPTS, mixed_precision=False), mixed, atol=1e-3)


def test_training_state_is_three_fp32_copies():
    assert adapters.training_state_mib(2**20) == pytest.approx(12.0)


def test_bottleneck_adapters_train_in_fp32_on_a_half_precision_base(tiny_model, tokenizer, task):
    tiny_model.to(torch.bfloat16)
    added = adapters.add_bottleneck_adapters(tiny_model, bottleneck=4)
    assert all(p.dtype == torch.float32 for a in added for p in a.parameters())
    logits = evaluate.answer_logits(tiny_model, tokenizer, PROMPTS, mixed_precision=False)  # no autocast to hide a mismatch
    assert logits.shape == (len(PROMPTS), tiny_model.config.vocab_size)
    run = adapters.train_steps(tiny_model, tokenizer, task, steps=2, learning_rate=1e-2, batch_size=4)
    assert all(torch.isfinite(torch.tensor(run.losses)))


def test_a_prefix_from_text_behaves_as_if_the_text_came_first(tiny_model, tokenizer):
    text, prompt = "Name the category.", "Product: a red kettle\nCategory:"
    n = adapters.prefix_tokens(tokenizer, text)
    model = get_peft_model(tiny_model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n))
    random_start = evaluate.answer_logits(model, tokenizer, [prompt], mixed_precision=False)
    adapters.init_prefix_from_text(model, tokenizer, text)
    prefixed = evaluate.answer_logits(model, tokenizer, [prompt], mixed_precision=False)
    with torch.no_grad():
        ids = tokenizer(text + prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
        assert ids.shape[1] == n + len(tokenizer(prompt, add_special_tokens=False)["input_ids"])  # no merge at the seam
        together = model.get_base_model()(input_ids=ids).logits[:, -1]
    torch.testing.assert_close(prefixed, together, atol=1e-4, rtol=1e-4)
    assert not torch.allclose(random_start, together, atol=1e-2)
    with pytest.raises(ValueError, match="num_virtual_tokens"):
        adapters.init_prefix_from_text(model, tokenizer, text + " And more words.")
