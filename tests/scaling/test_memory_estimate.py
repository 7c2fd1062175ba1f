import pytest
import torch

from labkit import memory, models
from labkit.scaling.memory_estimate import ModelShape, activation_bytes, estimate, fits


def shape(parameters=1_000_000):
    return ModelShape(parameters=parameters, layers=2, hidden_size=64, intermediate_size=128, vocab_size=1000)


def test_zero_stages_shard_optimizer_then_gradients_then_weights():
    plain = estimate(shape(), trainable=1_000_000, tokens=10, world_size=4)
    z1, z2, z3 = (estimate(shape(), 1_000_000, 10, zero_stage=s, world_size=4) for s in (1, 2, 3))
    assert z1.optimizer == plain.optimizer / 4 and z1.gradients == plain.gradients
    assert z2.gradients == plain.gradients / 4 and z2.weights == plain.weights
    assert z3.weights == plain.weights / 4 and z3.activations == plain.activations


def test_half_precision_weights_need_fp32_master_copies():
    full = estimate(shape(), trainable=1000, tokens=1)
    half = estimate(shape(), trainable=1000, tokens=1, weight_dtype="bfloat16")
    assert half.weights == full.weights / 2 and half.optimizer == full.optimizer * 12 / 8


def test_a_zero_stage_that_does_not_exist_is_refused():
    with pytest.raises(ValueError, match="stages 0"):
        estimate(shape(), 1, 1, zero_stage=4)


def test_fits_leaves_headroom():
    assert fits(13 * 1024, 15) and not fits(14.5 * 1024, 15)


def test_activation_estimate_is_near_what_autograd_saves():
    """The per-token constants against an exact count of the tensors saved for backward (tiny Llama, fp32)."""
    model = models.tiny_llama().train()
    x = torch.randint(0, 100, (2, 32))
    _, saved_mib = memory.saved_for_backward(model, lambda: model(input_ids=x, labels=x).loss)
    guess = activation_bytes(ModelShape.of(model.config, models.parameter_count(model)), tokens=x.numel(),
                             backward=False) / 2**20
    assert 0.8 < guess / saved_mib < 1.25
