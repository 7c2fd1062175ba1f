"""freezing: half fine-tuning freezes half of each layer by a seeded rule; a training step leaves that half untouched."""

import pytest
import torch

from labkit.tuning import freezing


def test_half_freeze_freezes_half_of_the_layer_matrices(tiny_model):
    plan = freezing.half_freeze(tiny_model, seed=0)
    for index in range(tiny_model.config.num_hidden_layers):
        frozen = plan.frozen_in_layer(index)
        assert len([n for n in frozen if n in freezing.ATTENTION]) == 2
        assert len([n for n in frozen if n in freezing.MLP]) == 1 + index % 2
    assert "model.embed_tokens.weight" in plan.frozen
    assert all("norm" not in name for name in plan.frozen)
    total = sum(p.numel() for p in tiny_model.parameters())
    assert plan.frozen_parameters + plan.trainable_parameters == total
    assert plan.trainable_parameters == sum(p.numel() for p in tiny_model.parameters() if p.requires_grad)


def test_the_rule_is_seeded_and_a_new_round_unfreezes_first(tiny_model):
    first = freezing.half_freeze(tiny_model, seed=0).frozen
    assert freezing.half_freeze(tiny_model, seed=0).frozen == first
    rounds = {tuple(freezing.half_freeze(tiny_model, seed=seed).frozen) for seed in range(6)}
    assert len(rounds) > 1, "different seeds should draw different halves"
    plan = freezing.half_freeze(tiny_model, seed=3, freeze_embeddings=False)
    assert "model.embed_tokens.weight" in plan.trainable
    assert set(plan.frozen) | set(plan.trainable) == {name for name, _ in tiny_model.named_parameters()}


def test_a_training_step_moves_only_the_trainable_half(tiny_model):
    plan = freezing.half_freeze(tiny_model, seed=0)
    before = {name: p.detach().clone() for name, p in tiny_model.named_parameters()}
    optimizer = torch.optim.AdamW([p for p in tiny_model.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(3, 100, (2, 12))
    tiny_model.train()
    tiny_model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    after = dict(tiny_model.named_parameters())
    assert all(torch.equal(after[name], before[name]) for name in plan.frozen)
    moved = [name for name in plan.trainable if not torch.equal(after[name], before[name])]
    assert any("proj" in name for name in moved)


def test_a_model_without_decoder_layers_is_refused():
    with pytest.raises(TypeError, match="Llama-style"):
        freezing.half_freeze(torch.nn.Linear(2, 2))
