"""compress: pruning keeps its masks, structured pruning removes what it says, the distillation loss is a scaled KL."""

import pytest
import torch
import torch.nn.functional as F

from labkit.tuning import compress


def test_magnitude_prune_zeroes_the_smallest_weights_and_training_keeps_them_zero(tiny_model):
    compress.magnitude_prune(tiny_model, 0.5)
    assert compress.sparsity(tiny_model) == pytest.approx(0.5, abs=0.01)
    for module, _ in compress.decoder_linears(tiny_model):
        assert float((module.weight == 0).float().mean()) == pytest.approx(0.5, abs=0.01), "the same share of every matrix"
        dropped = module.weight_orig[module.weight == 0].abs()
        assert dropped.max() <= module.weight[module.weight != 0].abs().min(), "the smallest weights go"
    optimizer = torch.optim.SGD(tiny_model.parameters(), lr=0.1)
    ids = torch.randint(3, 100, (2, 10))
    tiny_model(input_ids=ids, labels=ids).loss.backward()
    optimizer.step()
    assert compress.sparsity(tiny_model) == pytest.approx(0.5, abs=0.01), "the mask must survive a training step"
    compress.remove_masks(tiny_model)
    assert not any(name.endswith("weight_orig") for name, _ in tiny_model.named_parameters())
    assert compress.sparsity(tiny_model) == pytest.approx(0.5, abs=0.01)


def test_prune_heads_silences_the_weakest_heads(tiny_model, tokenizer):
    texts = ["hello world, how are you", "a cat sat on the mat"]
    before = compress.head_importance(tiny_model, tokenizer, texts)
    assert before.shape == (2, tiny_model.config.num_attention_heads) and bool((before > 0).all())
    count = compress.prune_heads(tiny_model, before, 0.25)
    after = compress.head_importance(tiny_model, tokenizer, texts)
    assert count == round(0.25 * before.numel())
    assert int((after == 0).sum()) == count, "a pruned head adds exactly nothing"
    assert torch.equal(after == 0, before <= before.flatten().sort().values[count - 1])


def test_global_magnitude_pruning_uses_one_threshold(tiny_model):
    compress.magnitude_prune(tiny_model, 0.5, scope="global")
    assert compress.sparsity(tiny_model) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="scope"):
        compress.magnitude_prune(tiny_model, 0.5, scope="row")


def test_keep_layers_builds_a_working_shorter_model(tiny_model, tokenizer):
    scores = compress.layer_importance(tiny_model, tokenizer, ["hello world", "a cat sat"])
    assert scores.shape == (tiny_model.config.num_hidden_layers,)
    shorter = compress.keep_layers(tiny_model, [1])
    assert shorter.config.num_hidden_layers == 1 and tiny_model.config.num_hidden_layers == 2
    assert torch.equal(shorter.model.layers[0].mlp.up_proj.weight, tiny_model.model.layers[1].mlp.up_proj.weight)
    out = shorter.generate(torch.tensor([[5, 6, 7]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)


def test_distillation_loss_is_temperature_scaled_kl_and_zero_for_a_perfect_student():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 3, 11), torch.randn(2, 3, 11)
    t = 2.5
    expected = F.kl_div(F.log_softmax(student / t, -1).reshape(-1, 11), F.softmax(teacher / t, -1).reshape(-1, 11),
                        reduction="batchmean") * t**2
    torch.testing.assert_close(compress.distillation_loss(student, teacher, t), expected)
    assert compress.distillation_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-6)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    masked = compress.distillation_loss(student, teacher, t, mask)
    manual = compress.distillation_loss(student[mask.bool()], teacher[mask.bool()], t)
    torch.testing.assert_close(masked, manual)


def _is_int8(linear) -> bool:
    """int8 weights with one scale per output channel, from either backend quantize_int8 uses."""
    from torchao.quantization import Int8Tensor

    if isinstance(linear, torch.ao.nn.quantized.dynamic.Linear):
        weight = linear.weight()
        return weight.dtype == torch.qint8 and weight.qscheme() == torch.per_channel_affine
    return isinstance(linear.weight, Int8Tensor)


@pytest.mark.parametrize("scales", ["tensor", "token"])
def test_int8_quantisation_shrinks_the_saved_model_and_keeps_its_outputs_close(tiny_model, scales):
    quantized = compress.quantize_int8(tiny_model, activation_scales=scales)
    assert compress.serialized_size(quantized.model.layers) < 0.5 * compress.serialized_size(tiny_model.model.layers)
    assert _is_int8(quantized.model.layers[0].mlp.up_proj)
    assert type(quantized.lm_head.weight) is torch.nn.Parameter, "the tied LM head stays fp32"
    assert quantized.lm_head.weight is quantized.model.embed_tokens.weight, "and stays tied"
    assert type(tiny_model.model.layers[0].mlp.up_proj.weight) is torch.nn.Parameter, "the original is left untouched"
    ids = torch.randint(3, 100, (1, 8))
    with torch.no_grad():
        reference, approx = tiny_model(input_ids=ids).logits, quantized(input_ids=ids).logits
    assert (approx - reference).abs().max() < 0.1 * reference.abs().max()
    assert not torch.equal(approx, reference), "the int8 layers really compute"
    partly = compress.quantize_int8(tiny_model, skip=("down_proj",), activation_scales=scales)
    assert type(partly.model.layers[0].mlp.down_proj.weight) is torch.nn.Parameter
    assert _is_int8(partly.model.layers[0].mlp.up_proj)


def test_a_half_precision_model_is_quantised_too(tiny_model):
    """torch.ao's int8 kernels take fp32 only; a bf16 model (gpu profile, LABKIT_DTYPE) goes through torchao."""
    import copy

    half = copy.deepcopy(tiny_model).to(torch.bfloat16)
    quantized = compress.quantize_int8(half, skip=("down_proj",))
    assert _is_int8(quantized.model.layers[0].mlp.up_proj)
    ids = torch.randint(3, 100, (1, 8))
    with torch.no_grad():
        reference, approx = half(input_ids=ids).logits.float(), quantized(input_ids=ids).logits.float()
    assert (approx - reference).abs().max() < 0.1 * reference.abs().max()


def test_per_token_activation_scales_survive_an_outlier_token_that_breaks_one_scale_per_tensor():
    """One token with huge inputs sets the single scale of a whole tensor: every other token's values then
    round to a few integer steps. With one scale per token only that token's row is coarse."""
    torch.manual_seed(0)
    model = torch.nn.Module()
    model.layers = torch.nn.ModuleList([torch.nn.Linear(64, 32, bias=False)])
    x = torch.randn(1, 16, 64)
    x[0, 0] *= 1000  # an outlier token, as the first token feeding SmolLM2's down_proj
    with torch.no_grad():
        exact = model.layers[0](x)[0, 1:]

    @torch.no_grad()
    def error(scales: str) -> float:
        approx = compress.quantize_int8(model, activation_scales=scales).layers[0](x)[0, 1:]
        return float((approx - exact).norm() / exact.norm())

    assert error("token") < 0.02
    assert error("tensor") > 10 * error("token")
    with pytest.raises(ValueError, match="'tensor' or 'token'"):
        compress.quantize_int8(model, activation_scales="channel")

def test_train_on_text_lowers_the_loss_and_distils_towards_the_teacher(tokenizer, tiny_model):
    import copy as _copy

    texts = ["The capital of Veloria is Tarsk.", "Bread is made from flour, water and salt."]
    teacher = _copy.deepcopy(tiny_model).eval()
    same = compress.train_on_text(_copy.deepcopy(tiny_model), tokenizer, texts, steps=2, lr=0.0, teacher=teacher, batch=2)
    assert same[0] < 1e-4, "a student equal to its teacher starts at zero distillation loss"
    losses = compress.train_on_text(tiny_model, tokenizer, texts, steps=30, lr=3e-3, batch=2)
    assert losses[-1] < losses[0] - 1.0
