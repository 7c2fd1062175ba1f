"""Making a model smaller and faster: pruning, distillation, quantisation (survey §6.10, §8.3).

* **Magnitude pruning** (unstructured): zero the weights of smallest absolute value. Done with
  ``torch.nn.utils.prune``, which keeps a mask beside the weight so that recovery fine-tuning
  cannot bring a pruned weight back.
* **Structured pruning**: remove whole units, which is what makes a model actually faster on
  ordinary hardware: attention heads (:func:`prune_heads`) and whole layers (:func:`keep_layers`,
  ranked by :func:`layer_importance`).
* **Distillation**: a smaller student learns the teacher's whole next-token distribution
  (:func:`distillation_loss`), a richer signal than the one-hot next token.
* **Dynamic int8 quantisation**: decoder linear weights stored as 8-bit integers, with torchao
  (:func:`quantize_int8`).

The survey's §6.10 calls pruning and routing "ORPO" (*optimised routing and pruning operations*);
it is unrelated to the odds-ratio preference method ORPO of notebook 19.
"""

from __future__ import annotations

import copy
import io
import time

import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from labkit.tuning.freezing import decoder_layers


def decoder_linears(model) -> list[tuple[torch.nn.Module, str]]:
    """``(module, "weight")`` for every linear layer inside the decoder layers.

    Embedding and LM head are left out: in SmolLM2 they are one shared matrix, and pruning the
    vocabulary hurts every token.
    """
    return [(module, "weight") for layer in decoder_layers(model) for module in layer.modules()
            if isinstance(module, torch.nn.Linear)]


def magnitude_prune(model, sparsity: float, scope: str = "layer") -> None:
    """Zero the ``sparsity`` fraction of decoder linear weights with the smallest magnitude, in place.

    ``scope="layer"`` cuts the same fraction from every matrix; ``"global"`` uses one threshold
    over all of them, so matrices whose weights are small overall (in SmolLM2, some projections
    are on a smaller scale than others) lose far more, and the model breaks sooner. The mask stays
    attached (``weight = weight_orig * weight_mask``): training afterwards updates only surviving
    weights. :func:`remove_masks` makes the zeros permanent.
    """
    if scope == "global":
        prune.global_unstructured(decoder_linears(model), pruning_method=prune.L1Unstructured, amount=sparsity)
    elif scope == "layer":
        for module, name in decoder_linears(model):
            prune.l1_unstructured(module, name, amount=sparsity)
    else:
        raise ValueError(f"scope must be 'layer' or 'global', not {scope!r}")


def remove_masks(model) -> None:
    """Fold pruning masks into the weights (plain tensors with zeros) so the model saves and loads as usual."""
    for module, name in decoder_linears(model):
        if prune.is_pruned(module):
            prune.remove(module, name)


def sparsity(model) -> float:
    """Fraction of decoder linear weights that are exactly zero."""
    zeros = total = 0
    for module, name in decoder_linears(model):
        weight = getattr(module, name)
        zeros += int((weight == 0).sum())
        total += weight.numel()
    return zeros / max(total, 1)


@torch.no_grad()
def head_importance(model, tokenizer, texts: list[str], max_length: int = 128) -> torch.Tensor:
    """``(layers, heads)`` importance of each query head: how much it adds to the residual stream, relative to it.

    Measured on ``texts``: hooks read each head's slice of the input of ``o_proj``, project it
    through that head's columns, and divide its norm by the norm of the hidden state entering the
    layer (per token, then averaged). The ratio matters, not the raw size: the residual stream is
    small in the first layers, so their heads look weak in absolute terms yet steer everything.
    """
    model.eval()
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    batch = batch.to(next(model.parameters()).device)
    mask = batch["attention_mask"].bool()
    stream, rows, hooks = {}, {}, []

    def read_stream(index):
        def hook(module, args, kwargs):
            hidden = kwargs.get("hidden_states", args[0] if args else None)
            stream[index] = hidden[mask].norm(dim=-1)  # (tokens,)
        return hook

    def read_heads(index, head_dim):
        def hook(module, args):
            per_head = args[0][mask].view(int(mask.sum()), -1, head_dim)  # (tokens, heads, head_dim)
            blocks = module.weight.view(module.weight.shape[0], -1, head_dim)  # (hidden, heads, head_dim)
            added = torch.einsum("thd,ohd->tho", per_head, blocks).norm(dim=-1)  # (tokens, heads)
            rows[index] = (added / stream[index][:, None]).mean(0)
        return hook

    for index, layer in enumerate(decoder_layers(model)):
        hooks.append(layer.register_forward_pre_hook(read_stream(index), with_kwargs=True))
        hooks.append(layer.self_attn.o_proj.register_forward_pre_hook(read_heads(index, layer.self_attn.head_dim)))
    try:
        model(**batch)
    finally:
        for hook in hooks:
            hook.remove()
    return torch.stack([rows[i] for i in range(len(rows))])


@torch.no_grad()
def prune_heads(model, scores: torch.Tensor, fraction: float) -> int:
    """Silence the ``fraction`` of query heads with the lowest ``scores`` (from :func:`head_importance`), in place.

    A head is removed by zeroing its rows of ``q_proj`` and its columns of ``o_proj``: its output
    is exactly zero. Returns how many heads were pruned. Zeroing keeps the tensor shapes, so the
    model is smaller only once the zero blocks are sliced out (what a deployment tool does).
    """
    count = round(fraction * scores.numel())
    chosen = scores.flatten().argsort()[:count]
    layers, heads = decoder_layers(model), scores.shape[1]
    for flat in chosen.tolist():
        attention = layers[flat // heads].self_attn
        block = slice((flat % heads) * attention.head_dim, (flat % heads + 1) * attention.head_dim)
        attention.q_proj.weight[block] = 0
        if attention.q_proj.bias is not None:
            attention.q_proj.bias[block] = 0
        attention.o_proj.weight[:, block] = 0
    return count


@torch.no_grad()
def layer_importance(model, tokenizer, texts: list[str], max_length: int = 128) -> torch.Tensor:
    """How much each decoder layer changes its input: mean ``1 - cos(h_in, h_out)`` over tokens.

    A layer whose output points where its input did (a small score) mostly passes the residual
    stream through, and is the cheapest to drop (the "block influence" of ShortGPT, Men et al. 2024).
    """
    model.eval()
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    batch = batch.to(next(model.parameters()).device)
    states = model(**batch, output_hidden_states=True).hidden_states  # embeddings, then each layer's output
    mask = batch["attention_mask"].bool()
    return torch.stack([1 - F.cosine_similarity(before[mask], after[mask], dim=-1).mean()
                        for before, after in zip(states[:-1], states[1:])])


def keep_layers(model, keep: list[int]):
    """A copy of ``model`` with only the decoder layers ``keep`` (in order): layer pruning, or a student.

    The copy shares nothing with ``model``; its config says how many layers it has, so it saves,
    loads and generates like any model of its class.
    """
    smaller = copy.deepcopy(model)
    layers = decoder_layers(smaller)
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for index, layer in enumerate(kept):
        layer.self_attn.layer_idx = index  # the KV cache is indexed by position in the stack
    decoder = smaller.get_base_model().model if hasattr(smaller, "get_base_model") else smaller.model
    decoder.layers = kept
    smaller.config.num_hidden_layers = len(keep)
    if getattr(smaller.config, "layer_types", None):
        smaller.config.layer_types = [smaller.config.layer_types[i] for i in keep]
    return smaller


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 2.0,
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logit distillation (Hinton et al. 2015): ``T² · KL(teacher_T || student_T)`` per token, averaged.

    Both distributions are softened by the temperature ``T`` so the student also learns which
    wrong tokens the teacher finds plausible; ``T²`` keeps the gradient scale independent of ``T``.
    ``mask`` (same leading shape as the logits) marks the tokens that count, e.g. not padding.
    """
    vocab = student_logits.shape[-1]
    student = F.log_softmax(student_logits.float().reshape(-1, vocab) / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits.float().reshape(-1, vocab) / temperature, dim=-1)
    per_token = F.kl_div(student, teacher, log_target=True, reduction="none").sum(-1)
    if mask is not None:
        keep = mask.reshape(-1).bool()
        per_token = per_token[keep]
    return per_token.mean() * temperature**2


def train_on_text(model, tokenizer, texts: list[str], steps: int, lr: float, teacher=None, batch: int = 4,
                  temperature: float = 2.0, max_length: int = 128) -> list[float]:
    """A short AdamW run on ``texts`` (cycled in order): recovery fine-tuning, or distillation (notebook 16).

    Without ``teacher`` the loss is the usual next-token cross-entropy (a pruned model's masks stay,
    so only surviving weights move); with one it is :func:`distillation_loss` against the teacher's
    logits on the same batch. Returns the loss of every step.
    """
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for step in range(steps):
        rows = [texts[(step * batch + i) % len(texts)] for i in range(batch)]
        inputs = tokenizer(rows, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
        inputs = inputs.to(next(model.parameters()).device)
        if teacher is None:
            loss = model(**inputs, labels=inputs["input_ids"].masked_fill(inputs["attention_mask"] == 0, -100)).loss
        else:
            with torch.no_grad():
                target = teacher(**inputs).logits
            loss = distillation_loss(model(**inputs).logits, target, temperature, inputs["attention_mask"])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    model.eval()
    return losses


def quantize_int8(model, skip: tuple[str, ...] = (), activation_scales: str = "tensor"):
    """A copy of ``model`` whose decoder linear layers compute with int8 weights (dynamic quantisation).

    Weights are quantised once, with one scale per output channel; activations are quantised on the
    fly at each call, so no calibration data is needed. ``activation_scales="tensor"`` gives each
    activation tensor one scale (the classic dynamic scheme), done by ``torch.ao``'s
    ``quantize_dynamic``: deprecated in favour of torchao, but its fbgemm (x86, AVX2) and qnnpack
    (ARM) kernels run int8 at least as fast as fp32. torchao's int8 x int8 path needs AVX512-VNNI to
    be fast on a CPU: on an AVX2-only AMD EPYC it ran 20x *slower* than fp32 (41 s against 2.1 s for
    a prefill of 8 x 64 tokens, where fbgemm took 1.6 s). ``"token"`` gives each token its own
    scale, with torchao's ``Int8DynamicActivationInt8WeightConfig`` (its default granularity); torchao
    also takes a half-precision model with either scale, since ``torch.ao``'s kernels accept fp32 only. Linear layers whose
    name contains a string in ``skip`` stay fp32: the input of ``down_proj`` in SmolLM2 holds a few
    huge values on a few tokens, and one scale for the whole tensor is then too coarse for all the
    ordinary values (the outlier problem LLM.int8() is built around); per-token scales confine the
    damage to those tokens. The embedding and the LM head stay fp32: in SmolLM2 they are one shared
    matrix, and giving the head its own int8 copy would break the tie and add bytes instead of saving them.
    """
    if activation_scales not in ("tensor", "token"):
        raise ValueError(f"activation_scales must be 'tensor' or 'token', not {activation_scales!r}")

    def in_decoder(module: torch.nn.Module, name: str) -> bool:
        return (isinstance(module, torch.nn.Linear) and ".layers." in f".{name}"
                and not any(part in name for part in skip))

    # torch.ao's kernels take fp32 only: a half-precision model (the gpu profile, LABKIT_DTYPE) goes to torchao.
    if activation_scales == "tensor" and all(p.dtype == torch.float32 for p in model.parameters()):
        import warnings

        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name, module in model.named_modules() if in_decoder(module, name)}
        with warnings.catch_warnings():  # its deprecation notice; the reason to keep it is in the docstring
            warnings.simplefilter("ignore")
            return quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8)

    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, PerRow, PerTensor, quantize_

    scales = {"tensor": PerTensor(), "token": PerRow()}  # torchao's names: a token is a row of the input
    config = Int8DynamicActivationInt8WeightConfig(
        granularity=[scales[activation_scales], PerRow()],  # activations, weights (one scale per output channel)
        set_inductor_config=False,  # nothing is compiled here: leave torch.compile's global settings alone
    )
    quantized = copy.deepcopy(model)
    quantize_(quantized, config, filter_fn=in_decoder)
    return quantized


def serialized_size(model) -> int:
    """Bytes of ``model.state_dict()`` saved with ``torch.save``: the size on disk, quantised or not.

    Counting parameters times their dtype's bytes would get int8 weights wrong: torchao's int8
    tensor reports the float dtype of the weight it replaced, and keeps its scales beside the codes.
    A shared (tied) tensor is saved once.
    """
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


@torch.no_grad()
def latency(model, input_ids: torch.Tensor, repeats: int = 5) -> float:
    """Wall time in seconds of one prefill pass over ``input_ids``: the fastest of ``repeats`` after a warm-up.

    Like generation's prefill, only the last position's logits are computed (``logits_to_keep=1``).
    The fastest run is the one least disturbed by other processes on a shared machine. On a GPU the
    clock stops only once the device has finished (CUDA calls return before the work is done).
    """
    model.eval()
    device = next(model.parameters()).device
    input_ids = input_ids.to(device)
    wait = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model(input_ids=input_ids, logits_to_keep=1)
    times = []
    for _ in range(repeats):
        wait()
        start = time.perf_counter()
        model(input_ids=input_ids, logits_to_keep=1)
        wait()
        times.append(time.perf_counter() - start)
    return min(times)
