"""Weight quantisation, written out: absmax int8 and blockwise 4-bit (NF4, FP4), and what it costs.

QLoRA (Dettmers et al., 2023) freezes the base model in **4-bit NormalFloat (NF4)**: each block
of 64 consecutive weights is divided by its largest magnitude (*absmax*), so it lies in [-1, 1],
and each weight is stored as the index (4 bits) of the nearest of 16 fixed values. NF4's 16 values
are quantiles of a normal distribution, where trained weights mostly lie; FP4's are those of a
tiny floating-point format. bitsandbytes does this in its kernels; the few lines below do the same
in plain torch, so a learner can see the inside, and ``tests/test_quant.py`` checks that they give
bitsandbytes' bytes exactly.

:func:`weight_bytes` counts what a model's weights really occupy, the quantisation constants
included (transformers' ``get_memory_footprint`` leaves out bitsandbytes' per-block scales).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# The 16 values of each 4-bit code, as bitsandbytes defines them (bitsandbytes/backends/utils.py).
NF4_CODE = torch.tensor([
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
    0.7229568362236023, 1.0])
FP4_CODE = torch.tensor([
    0.0, 0.0052, 0.6667, 1.0, 0.3333, 0.5, 0.1667, 0.25,
    0.0, -0.0052, -0.6667, -1.0, -0.3333, -0.5, -0.1667, -0.25])  # 1 sign, 2 exponent, 1 mantissa bit
CODES = {"nf4": NF4_CODE, "fp4": FP4_CODE}


def absmax_int8(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8 (notebook 09): ``weight ≈ scale × q`` with q in -127..127, one fp32 scale per row."""
    scale = weight.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127
    return torch.round(weight / scale).to(torch.int8), scale.float()


@dataclass
class Quantized4bit:
    """A weight in blockwise 4-bit form: two indices per byte, one fp32 absmax per block."""

    packed: torch.Tensor  # uint8, (numel + 1) // 2 bytes; the first index of a pair in the high nibble
    absmax: torch.Tensor  # fp32, one per block
    shape: torch.Size
    quant_type: str  # "nf4" or "fp4"
    blocksize: int

    @property
    def nbytes(self) -> int:
        """Bytes stored: the packed indices plus the scales (the 16-value code table is shared)."""
        return self.packed.nbytes + self.absmax.nbytes

    @property
    def bits_per_weight(self) -> float:
        return 8 * self.nbytes / self.shape.numel()


def quantize_4bit(weight: torch.Tensor, quant_type: str = "nf4", blocksize: int = 64) -> Quantized4bit:
    """Blockwise 4-bit quantisation as bitsandbytes does it: scale each block by its absmax,
    then store the index of the nearest code value (found between the midpoints of the sorted code)."""
    flat = weight.detach().reshape(-1).float()
    code = CODES[quant_type].to(flat.device)
    n_blocks = -(-flat.numel() // blocksize)
    padded = torch.nn.functional.pad(flat, (0, n_blocks * blocksize - flat.numel()))
    absmax = padded.view(n_blocks, blocksize).abs().amax(dim=1)
    scaled = (padded.view(n_blocks, blocksize) * (1.0 / absmax.clamp(min=1e-38))[:, None]).clamp(-1, 1).reshape(-1)
    scaled = scaled[: flat.numel() + flat.numel() % 2]  # an even count: two indices per byte
    order = torch.argsort(code)
    midpoints = (code[order[:-1]] + code[order[1:]]) / 2
    index = order[torch.bucketize(scaled, midpoints)].to(torch.uint8)
    packed = (index[0::2] << 4) | index[1::2]
    return Quantized4bit(packed, absmax, weight.shape, quant_type, blocksize)


def dequantize_4bit(q: Quantized4bit) -> torch.Tensor:
    """The fp32 weight a 4-bit one stands for: code value of each index × its block's absmax."""
    index = torch.stack([q.packed >> 4, q.packed & 0xF], dim=1).reshape(-1).long()[: q.shape.numel()]
    scales = q.absmax.repeat_interleave(q.blocksize)[: q.shape.numel()]
    return (CODES[q.quant_type].to(index.device)[index] * scales).reshape(q.shape)


def roundtrip(weight: torch.Tensor, fmt: str) -> torch.Tensor:
    """``weight`` quantised to ``fmt`` ("int8", "nf4" or "fp4") and back: what the model computes with."""
    if fmt == "int8":
        q, scale = absmax_int8(weight)
        return q.float() * scale
    return dequantize_4bit(quantize_4bit(weight, fmt))


def quantization_error(weight: torch.Tensor, approx: torch.Tensor) -> dict[str, float]:
    """Relative RMS error ``||w - ŵ|| / ||w||`` and the largest absolute error of one weight."""
    diff = (weight.float() - approx.float())
    return {"relative_rms": (diff.norm() / weight.float().norm()).item(), "max_abs": diff.abs().max().item()}


def linear_weights(model: torch.nn.Module, skip: tuple[str, ...] = ("lm_head",)) -> dict[str, torch.Tensor]:
    """The weight of every ``nn.Linear`` (by module name), the layers bitsandbytes quantises;
    ``lm_head`` is skipped as transformers skips it (here it is also the tied embedding)."""
    return {name: module.weight.detach() for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not any(s in name for s in skip)}


def _quant_state_tensors(state) -> list[torch.Tensor]:
    """The tensors of a bitsandbytes 4-bit QuantState: absmax, and with double quantisation
    (absmax itself in 8 bits) the second level's absmax, code table and offset."""
    tensors = [state.absmax]
    if getattr(state, "nested", False):
        tensors += [state.state2.absmax, state.state2.code, state.offset]
    return tensors


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of a model's parameters and buffers, plus bitsandbytes' quantisation constants.

    Each tensor counts once (tied weights, shared code tables). 4-bit layers keep their per-block
    absmax in ``weight.quant_state`` and 8-bit layers their per-row scales in ``weight.SCB``,
    neither a parameter nor a buffer, so ``get_memory_footprint`` leaves them out.
    """
    tensors = [*model.parameters(), *model.buffers()]
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if getattr(weight, "quant_state", None) is not None:
            tensors += _quant_state_tensors(weight.quant_state)
        if getattr(weight, "SCB", None) is not None:
            tensors.append(weight.SCB)
    return sum({t.data_ptr(): t.nbytes for t in tensors}.values())


def keep_4bit_trainable_on_cpu(model: torch.nn.Module) -> int:
    """Stop bitsandbytes from repacking 4-bit weights for its CPU inference kernel; returns how many layers.

    On a CPU with AVX512-BF16, a ``Linear4bit`` repacks its weight the first time it runs in eval
    mode without gradients, for a fast kernel that has no backward pass: an adapter trained through
    it afterwards gets wrong gradients (torch warns that "an autograd kernel was not registered").
    With repacking off the layer keeps the standard path (dequantise, then matmul), which autograd
    handles, and computes in the layer's compute dtype on every CPU (so results do not depend on
    the CPU model). On a GPU, or a CPU without bf16, nothing changes.
    """
    layers = [m for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu")]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)
