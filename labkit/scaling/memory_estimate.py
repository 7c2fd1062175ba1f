"""How much memory a fine-tune needs, before running it: weights, gradients, optimizer state, activations (notebook 24).

The four terms every sizing guide adds up (the survey's §10 and §12.1, DeepSpeed's ZeRO paper):

* **weights**: every parameter in the storage precision (fp32 4 bytes, fp16/bf16 2, 4-bit ~0.5);
* **gradients**: one per *trainable* parameter, fp32 (mixed precision keeps fp32 master grads);
* **optimizer state**: Adam's two moments per trainable parameter, fp32 (8 bytes), plus an fp32
  master copy of each trainable weight when the weights are stored in half precision;
* **activations**: what autograd keeps for the backward pass, per token. For a LLaMA-style block
  :data:`HIDDEN_COPIES` tensors of the hidden size and :data:`MLP_COPIES` of the MLP size
  (counted on SmolLM2 with :func:`labkit.memory.saved_for_backward`), and at the top the logits
  over the vocabulary in fp32; at the start of the backward pass, briefly, :data:`BACKWARD_LOGIT_COPIES`
  more vocabulary-sized tensors per token (the peak of a small model's step is there). Under
  autocast the matmuls also keep a half-precision copy of every weight they used.

ZeRO (DeepSpeed, and FSDP's equivalent sharding) splits these over ``world_size`` processes:
stage 1 the optimizer state, stage 2 also the gradients, stage 3 also the weights. Activations
are never split: each process keeps its own micro-batch's.
"""

from __future__ import annotations

from dataclasses import dataclass

MIB = 2**20
BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "int8": 1, "nf4": 0.5}
HIDDEN_COPIES = 10  # per block and token: norms' inputs and outputs, q/k/v before and after RoPE, attention output
MLP_COPIES = 3  # per block and token: gate, up, and their product entering the down projection
BACKWARD_LOGIT_COPIES = 3  # while the loss is differentiated: log-softmax and two vocabulary-sized gradients


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know of a decoder-only model."""

    parameters: int
    layers: int
    hidden_size: int
    intermediate_size: int
    vocab_size: int

    @classmethod
    def of(cls, config, parameters: int) -> "ModelShape":
        """From a transformers config (``model.config``) and the model's parameter count."""
        return cls(parameters, config.num_hidden_layers, config.hidden_size, config.intermediate_size,
                   config.vocab_size)


@dataclass(frozen=True)
class Estimate:
    """Per-process MiB of each term; ``total`` is their sum."""

    weights: float
    gradients: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.optimizer + self.activations


def activation_bytes(shape: ModelShape, tokens: int, compute_dtype: str = "float32", backward: bool = True) -> float:
    """Bytes autograd keeps for ``tokens`` tokens (batch × sequence length) of one process's micro-batch.

    ``backward=False`` counts only what is saved for backward (what ``saved_for_backward`` measures);
    ``True`` adds the vocabulary-sized tensors that exist together at the start of the backward pass.
    """
    per_block = HIDDEN_COPIES * shape.hidden_size + MLP_COPIES * shape.intermediate_size
    logits = (1 + (BACKWARD_LOGIT_COPIES if backward else 0)) * shape.vocab_size * 4
    return tokens * (shape.layers * per_block * BYTES[compute_dtype] + logits)


def estimate(shape: ModelShape, trainable: int, tokens: int, weight_dtype: str = "float32",
             autocast_dtype: str | None = None, zero_stage: int = 0, world_size: int = 1) -> Estimate:
    """Memory per process of an Adam fine-tune training ``trainable`` parameters on ``tokens`` tokens per step.

    ``weight_dtype`` is how the weights are stored, ``autocast_dtype`` the precision autocast computes
    in (None: none). ``zero_stage`` 0-3 shards optimizer state, then gradients, then weights over
    ``world_size`` processes.
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ValueError(f"ZeRO has stages 0 (off) to 3, not {zero_stage}")
    weights = shape.parameters * BYTES[weight_dtype]
    compute = autocast_dtype or weight_dtype
    if autocast_dtype and BYTES[autocast_dtype] < BYTES[weight_dtype]:
        weights += shape.parameters * BYTES[autocast_dtype]  # the cast copies autocast keeps for backward
    gradients = trainable * 4
    optimizer = trainable * (8 + (4 if BYTES[weight_dtype] < 4 else 0))
    split = max(world_size, 1)
    optimizer /= split if zero_stage >= 1 else 1
    gradients /= split if zero_stage >= 2 else 1
    weights /= split if zero_stage >= 3 else 1
    return Estimate(weights / MIB, gradients / MIB, optimizer / MIB, activation_bytes(shape, tokens, compute) / MIB)


GPUS_GIB = {"T4": 15, "L4": 24, "A100 40GB": 40, "A100 80GB": 80, "H100": 80}
USABLE = 0.9  # the CUDA context and the allocator's fragmentation take the rest


def fits(estimate_mib: float, gpu_gib: float) -> bool:
    """True when the estimate fits in ``USABLE`` of the GPU's memory."""
    return estimate_mib <= USABLE * gpu_gib * 1024
