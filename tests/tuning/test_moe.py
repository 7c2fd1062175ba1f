"""moe: an up-cycled model equals the dense one at init; routing, load and the balance loss behave."""

import copy

import pytest
import torch

from labkit.tuning import moe


@pytest.fixture
def ids(tokenizer):
    return tokenizer(["The capital of Veloria is Tarsk.", "Nineteen arches cross the river."], return_tensors="pt",
                     padding=True)


def test_upcycled_model_equals_the_dense_model_at_init(tiny_model, ids):
    upcycled = copy.deepcopy(tiny_model)
    layers = moe.upcycle(upcycled, [0, 1], n_experts=4, top_k=2, seed=0)
    assert len(layers) == 2 and moe.moe_layers(upcycled) == layers
    with torch.no_grad():
        dense, sparse = tiny_model(**ids).logits, upcycled(**ids).logits
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)


def test_top_k_must_fit_the_experts(tiny_model):
    with pytest.raises(ValueError, match="top_k"):
        moe.MoEMLP(tiny_model.model.layers[0].mlp, 64, n_experts=2, top_k=3)


def test_every_token_fills_top_k_slots_and_load_shares_sum_to_one(tiny_model, ids):
    moe.upcycle(tiny_model, [1], n_experts=4, top_k=2)
    with torch.no_grad():
        tiny_model(**ids)
    layer = moe.moe_layers(tiny_model)[0]
    assert layer.load.sum().item() == ids["input_ids"].numel() * 2
    torch.testing.assert_close(moe.expert_load(tiny_model).sum(dim=1), torch.ones(1))
    moe.reset_load(tiny_model)
    assert layer.load.sum().item() == 0


def test_balance_loss_is_one_when_even_and_n_when_collapsed(tiny_model):
    layer = moe.MoEMLP(tiny_model.model.layers[0].mlp, 64, n_experts=4, top_k=1)
    even = layer.balance_loss(torch.zeros(8, 4), torch.arange(8).remainder(4)[:, None])
    collapsed = layer.balance_loss(torch.tensor([[50.0, 0, 0, 0]]).repeat(8, 1), torch.zeros(8, 1, dtype=torch.long))
    assert even.item() == pytest.approx(1.0)
    assert collapsed.item() == pytest.approx(4.0, rel=1e-3)


def test_router_gets_no_task_gradient_until_the_experts_differ(tiny_model):
    layer = moe.MoEMLP(tiny_model.model.layers[0].mlp, 64, n_experts=4, top_k=2)
    hidden = torch.randn(2, 5, 64)
    layer(hidden).pow(2).sum().backward()
    assert layer.router.weight.grad.abs().max().item() < 1e-5
    layer.router.weight.grad = None
    with torch.no_grad():
        layer.experts[0].down_proj.weight.mul_(2)
    layer(hidden).pow(2).sum().backward()
    assert layer.router.weight.grad.abs().max().item() > 1e-4


def test_load_balancing_loss_trains_the_router(tiny_model, ids):
    moe.upcycle(tiny_model, [0], n_experts=4, top_k=1)
    tiny_model(**ids)
    moe.load_balancing_loss(tiny_model).backward()
    assert moe.moe_layers(tiny_model)[0].router.weight.grad.abs().sum().item() > 0
