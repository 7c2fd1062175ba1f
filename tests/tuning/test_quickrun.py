"""quickrun: cached bottom + top layers reproduce the full model; runs train; accumulation is exact."""

import pytest
import torch

from labkit import models
from labkit.profiles import profile
from labkit.train import lora_config
from labkit.tuning import quickrun

PROMPTS = ["The capital of France is", "One, two, three, four, five,", "Hello", "A cat sat on the"] * 2
ANSWERS = [" Paris", " six", " world", " mat"] * 2


@pytest.fixture(scope="module")
def setup():
    tokenizer = models.load_tokenizer(models.TINY_LLAMA)
    model = models.tiny_llama(seed=0, vocab_size=len(tokenizer)).eval()
    answers = [a if len(tokenizer(a, add_special_tokens=False)["input_ids"]) == 1 else " the" for a in ANSWERS]
    return model, tokenizer, quickrun.cache_features(model, tokenizer, PROMPTS, answers, n_top=1, batch_size=3)


def test_top_model_on_cached_features_matches_the_full_model(setup):
    model, tokenizer, features = setup
    tokenizer.padding_side = "left"
    encoded = tokenizer(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        full = model(**encoded, position_ids=features.position_ids).logits[:, -1]
        top = quickrun.answer_logits(quickrun.top_model(model, 1), features, torch.arange(len(PROMPTS)))
    torch.testing.assert_close(top, full, atol=1e-4, rtol=1e-4)


def test_multi_token_answers_are_refused(setup):
    model, tokenizer, _ = setup
    with pytest.raises(ValueError, match="one-token"):
        quickrun.cache_features(model, tokenizer, ["x"], [" antidisestablishmentarianism"], n_top=1)


def test_lora_run_lowers_the_loss_and_leaves_the_top_model_unchanged(setup):
    model, _, features = setup
    top = quickrun.top_model(model, 1)
    before = {k: v.clone() for k, v in top.state_dict().items()}
    config = lora_config(profile("ci"), r=4, lora_alpha=8)
    curve = quickrun.lora_run(top, config, features, features, steps=30, learning_rate=1e-2, batch_size=4, eval_every=10)
    assert curve.val_loss[-1] < quickrun.evaluate(top, features)["loss"] - 0.5
    assert len(curve.train_loss) == len(curve.lr) == 30 and curve.val_steps == [10, 20, 30]
    after = top.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_accumulated_gradients_equal_the_full_batch_gradients(setup):
    model, _, features = setup
    top = quickrun.top_model(model, 1)
    top.model.layers.requires_grad_(True)
    index = torch.arange(8)
    full = quickrun.gradients(top, features, index)
    accumulated = quickrun.gradients(top, features, index, micro_batches=2)
    for a, b in zip(full, accumulated):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
    assert any(g.abs().sum() > 0 for g in full)
