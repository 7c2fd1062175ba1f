"""quant: plain-torch NF4/FP4 agree with bitsandbytes bit for bit; errors and byte counts are right."""

import pytest
import torch

from labkit import models
from labkit.tuning import quant


@pytest.fixture(scope="module")
def weight():  # rows a multiple of the block size, like every SmolLM2 matrix (bitsandbytes' CPU
    # dequantiser assumes it; blocks that cross rows come back wrong there)
    return torch.randn(96, 128, generator=torch.Generator().manual_seed(0)) * 0.05


@pytest.mark.parametrize("quant_type", ["nf4", "fp4"])
def test_4bit_matches_bitsandbytes(weight, quant_type):
    functional = pytest.importorskip("bitsandbytes.functional")
    ours = quant.quantize_4bit(weight, quant_type, blocksize=64)
    packed, state = functional.quantize_4bit(weight, blocksize=64, quant_type=quant_type)
    differ = (ours.packed != packed.reshape(-1)).float().mean().item()
    # NF4: the same bytes. FP4: bitsandbytes' table rounds 1/6 to 0.1667, so a weight that lies
    # exactly half-way between two values can go either way: at most one byte in a thousand.
    assert differ == 0 if quant_type == "nf4" else differ < 1e-3, differ
    torch.testing.assert_close(ours.absmax, state.absmax)
    theirs = quant.Quantized4bit(packed.reshape(-1), state.absmax, weight.shape, quant_type, 64)
    torch.testing.assert_close(quant.dequantize_4bit(theirs), functional.dequantize_4bit(packed, state))


def test_code_tables_are_bitsandbytes_own():
    functional = pytest.importorskip("bitsandbytes.functional")
    for name, code in quant.CODES.items():
        torch.testing.assert_close(code, functional.get_4bit_type(name, device="cpu"), atol=1e-4, rtol=0)


def test_4bit_roundtrip_keeps_codes_exactly_and_counts_bytes():
    absmax = torch.tensor([2.0, 0.5])
    values = torch.cat([quant.NF4_CODE * 2.0, quant.NF4_CODE.flip(0) * 0.5])  # two blocks of 16
    q = quant.quantize_4bit(values.reshape(2, 16), "nf4", blocksize=16)
    assert torch.equal(quant.dequantize_4bit(q), values.reshape(2, 16)), "values on the grid survive exactly"
    torch.testing.assert_close(q.absmax, absmax)
    assert q.nbytes == 32 // 2 + 2 * 4 and q.bits_per_weight == 4 + 32 / 16


def test_odd_sizes_and_partial_blocks_roundtrip(weight):
    odd = weight[:7, :9]  # 63 weights: an odd count and one partial block
    q = quant.quantize_4bit(odd, "nf4", blocksize=64)
    assert q.packed.numel() == 32 and q.absmax.numel() == 1
    assert quant.dequantize_4bit(q).shape == odd.shape


def test_errors_order_int8_nf4_fp4_on_normal_weights(weight):
    errors = {fmt: quant.quantization_error(weight, quant.roundtrip(weight, fmt))["relative_rms"]
              for fmt in ("int8", "nf4", "fp4")}
    assert errors["int8"] < 0.02 < errors["nf4"] < errors["fp4"] < 0.3, errors


def test_absmax_int8_keeps_each_row_within_half_a_step(weight):
    q, scale = quant.absmax_int8(weight)
    assert q.dtype == torch.int8 and scale.shape == (weight.shape[0], 1)
    assert ((q.float() * scale - weight).abs() <= scale / 2 + 1e-7).all()


def test_weight_bytes_counts_tied_tensors_once_and_linear_weights_skip_the_head():
    model = models.tiny_llama()
    assert quant.weight_bytes(model) == sum(p.nbytes for p in model.parameters()) + sum(b.nbytes for b in model.buffers())
    names = quant.linear_weights(model)
    assert "lm_head" not in names and len(names) == 2 * 7  # q, k, v, o, gate, up, down per layer


@pytest.mark.parametrize("double_quant", [False, True])
def test_weight_bytes_includes_bitsandbytes_scales(double_quant):
    bnb = pytest.importorskip("bitsandbytes")
    layer = bnb.nn.Linear4bit(128, 64, bias=False, quant_type="nf4", compute_dtype=torch.float32)
    layer.weight = bnb.nn.Params4bit(torch.randn(64, 128), requires_grad=False, quant_type="nf4", blocksize=64,
                                     compress_statistics=double_quant)
    layer = layer.to("cpu")
    if getattr(layer.weight, "quant_state", None) is None:
        pytest.skip("this bitsandbytes does not quantise on CPU")
    blocks = 64 * 128 // 64
    # double quantisation: 8-bit absmax per block, one fp32 absmax per 256 of them, a 256-value code, an offset
    scales = blocks + 4 * -(-blocks // 256) + 256 * 4 + 4 if double_quant else 4 * blocks
    assert quant.weight_bytes(layer) == 64 * 128 // 2 + scales


def test_an_adapter_trains_through_a_4bit_layer_on_cpu():
    """QLoRA's backward on a CPU: the gradient that reaches the input through a 4-bit layer is the
    one a plain layer with the dequantised weight gives, also after the layer ran in eval mode."""
    bnb = pytest.importorskip("bitsandbytes")
    weight = torch.randn(64, 128, generator=torch.Generator().manual_seed(1))
    layer = bnb.nn.Linear4bit(128, 64, bias=False, quant_type="nf4", compute_dtype=torch.float32)
    layer.weight = bnb.nn.Params4bit(weight, requires_grad=False, quant_type="nf4", blocksize=64,
                                     compress_statistics=False)  # one-level absmax, as quant.roundtrip
    layer = layer.to("cpu")
    assert quant.keep_4bit_trainable_on_cpu(layer) == 1
    plain = torch.nn.Linear(128, 64, bias=False)
    plain.weight.data = quant.roundtrip(weight, "nf4")
    x = torch.randn(3, 128)
    with torch.no_grad():
        layer.eval()(x)  # an evaluation first: where repacking would happen
    layer.train()
    inputs = [x.clone().requires_grad_(True) for _ in range(2)]
    layer(inputs[0]).pow(2).sum().backward()
    plain(inputs[1]).pow(2).sum().backward()
    assert inputs[0].grad is not None, "the gradient must flow through the 4-bit layer"
    torch.testing.assert_close(inputs[0].grad, inputs[1].grad, atol=1e-4, rtol=1e-4)


def test_qlora_on_a_4bit_tiny_llama_lowers_the_loss_and_leaves_the_base_alone(tmp_path):
    """QLoRA end to end on the CPU: a tiny Llama loaded in NF4 by transformers, a peft LoRA, a few steps."""
    pytest.importorskip("bitsandbytes")
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    models.tiny_llama(seed=0, vocab_size=256).save_pretrained(tmp_path)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=config, device_map="cpu")
    assert quant.keep_4bit_trainable_on_cpu(base) == 14
    ids = (torch.arange(16) + torch.tensor([[0], [40], [80], [120]])) % 256  # learnable: each token is the last + 1
    with torch.no_grad():
        base.eval()(input_ids=ids)  # an evaluation first, as in a notebook
    frozen = base.model.layers[0].mlp.up_proj.weight.detach().clone()
    model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for step in range(10):
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        if step == 0:  # every B gets a gradient (A's is 0 while B = 0), also below 4-bit layers
            grads = [p.grad for name, p in model.named_parameters() if "lora_B" in name]
            assert len(grads) == 14 and all(g is not None and g.abs().sum() > 0 for g in grads), \
                "a gradient stopped at a 4-bit layer"
        optimizer.step(), optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3, losses
    assert torch.equal(base.model.layers[0].mlp.up_proj.base_layer.weight, frozen), "the 4-bit base stays frozen"
