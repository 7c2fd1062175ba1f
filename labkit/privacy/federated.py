"""Federated averaging written out: clients train locally, the server averages their weights.

FedAvg (McMahan et al., 2017) weights each client's parameters by its number of examples. Only
the trainable part travels, so sending an adapter or a head instead of the full model is what
makes federated fine-tuning cheap in bytes.

The clients of notebook 27 fine-tune a peft LoRA on the query and value projections of MiniLM's
*last* layer, plus a classification head over its sentence embedding. The five layers below stay
frozen, so each client runs them once over its texts and keeps what enters the last layer
(:func:`top_layer_inputs`); a training step then costs one layer instead of six, and the result is
exactly what the whole LoRA-adapted model computes (``tests/privacy/test_federated.py`` checks it).
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import numpy as np
import torch

from labkit import evaluate


def fedavg(states: list[dict[str, torch.Tensor]], sizes: list[int]) -> dict[str, torch.Tensor]:
    """The example-weighted mean of client state dicts (same keys and shapes on every client)."""
    if not states or len(states) != len(sizes):
        raise ValueError(f"fedavg needs one size per client state: {len(states)} states, {len(sizes)} sizes")
    total = float(sum(sizes))
    return {key: sum(state[key].float() * (n / total) for state, n in zip(states, sizes)) for key in states[0]}


def label_skew_split(labels: np.ndarray, n_clients: int, labels_per_client: int = 2, seed: int = 0) -> list[np.ndarray]:
    """Indices per client: client i holds only labels i, i+1, ... (mod the number of labels), so no
    client sees every label, the non-identical data federated learning has to cope with."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    owners = {c: [i for i in range(n_clients) if c in {classes[(i + j) % len(classes)] for j in range(labels_per_client)}]
              for c in classes}
    parts: list[list[int]] = [[] for _ in range(n_clients)]
    for c in classes:
        idx = rng.permutation(np.flatnonzero(labels == c))
        for k, chunk in enumerate(np.array_split(idx, max(len(owners[c]), 1))):
            if owners[c]:
                parts[owners[c][k]].extend(chunk.tolist())
    return [np.array(sorted(p)) for p in parts]


def state_bytes(state: dict[str, torch.Tensor]) -> int:
    """Bytes one copy of ``state`` takes on the wire (raw tensor data)."""
    return sum(t.numel() * t.element_size() for t in state.values())


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """What a client sends back: a peft model's adapter weights and ``modules_to_save`` (peft's
    ``get_peft_model_state_dict``, the same tensors ``save_pretrained`` writes), else every weight."""
    from peft import PeftModel, get_peft_model_state_dict

    state = get_peft_model_state_dict(model) if isinstance(model, PeftModel) else model.state_dict()
    return {k: v.detach().clone() for k, v in state.items()}


def local_train(model: torch.nn.Module, X, y: torch.Tensor, epochs: int, lr: float, batch_size: int = 32,
                seed: int = 0, max_steps: int | None = None) -> dict[str, torch.Tensor]:
    """A client's round: SGD on its own data from the server's weights, ``epochs`` passes or at
    most ``max_steps`` batches (fewer local steps, less drift towards the client's own labels);
    returns the trainable state it sends back. ``X[batch]`` is what ``model`` takes: a tensor of
    features, or :class:`TokenStates` for the LoRA classifier. Only parameters with ``requires_grad`` change."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    batches = [b for _ in range(epochs) for b in torch.randperm(len(y), generator=generator).split(batch_size)]
    for batch in batches[:max_steps]:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
        optimizer.step()
    return trainable_state(model)


def accuracy(model: torch.nn.Module, X, y, batch_size: int = 64) -> float:
    """Share of ``X`` (features or :class:`TokenStates`) that ``model`` labels ``y``."""
    with torch.no_grad():
        pred = torch.cat([model(X[idx]).argmax(-1) for idx in torch.arange(len(y)).split(batch_size)])
    return evaluate.accuracy(pred.tolist(), np.asarray(y).tolist())


# ---- a LoRA classifier on MiniLM's last layer, over cached inputs of that layer -------------------

class PaddedBatch(NamedTuple):
    hidden: torch.Tensor  # (batch, tokens, hidden size): what enters the last layer
    mask: torch.Tensor  # (batch, tokens): 1 on real tokens, 0 on padding


class TokenStates:
    """Per text, the hidden states entering the encoder's last layer (real tokens only);
    ``states[idx]`` pads the texts ``idx`` into one :class:`PaddedBatch`."""

    def __init__(self, states: list[torch.Tensor]):
        self.states = states

    def __len__(self) -> int:
        return len(self.states)

    def __getitem__(self, idx) -> PaddedBatch:
        chosen = [self.states[i] for i in torch.as_tensor(idx).reshape(-1).tolist()]
        hidden = torch.nn.utils.rnn.pad_sequence(chosen, batch_first=True)
        mask = torch.nn.utils.rnn.pad_sequence([torch.ones(len(s), dtype=torch.long) for s in chosen], batch_first=True)
        return PaddedBatch(hidden, mask)

    def subset(self, idx) -> "TokenStates":
        return TokenStates([self.states[i] for i in np.asarray(idx).tolist()])


def top_layer_inputs(encoder, tokenizer, texts: list[str], batch_size: int = 64, max_length: int = 256) -> TokenStates:
    """Run the frozen encoder once over ``texts`` and keep, per text, what enters its last layer."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # like lengths together: little padding
    states: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = order[start:start + batch_size]
            batch = tokenizer([texts[i] for i in chunk], padding=True, truncation=True, max_length=max_length,
                              return_tensors="pt").to(encoder.device)
            hidden = encoder(**batch, output_hidden_states=True).hidden_states[-2].float().cpu()
            states |= {i: h[m.bool()] for i, h, m in zip(chunk, hidden, batch["attention_mask"].cpu())}
    return TokenStates([states[i] for i in range(len(texts))])


class TopLayerClassifier(torch.nn.Module):
    """MiniLM's last layer, mean pooling and L2 normalisation (the sentence embedding all-MiniLM-L6-v2
    gives), then a linear head: the whole encoder's classifier, fed the cached input of its last layer."""

    def __init__(self, encoder, n_labels: int):
        super().__init__()
        self.encoder_config = encoder.config  # the attention implementation the mask is built for
        self.layer = copy.deepcopy(encoder.encoder.layer[-1]).float()
        self.head = torch.nn.Linear(encoder.config.hidden_size, n_labels)

    def embed(self, batch: PaddedBatch) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(config=self.encoder_config, inputs_embeds=batch.hidden, attention_mask=batch.mask)
        out = self.layer(batch.hidden, attention_mask=mask)
        out = out[0] if isinstance(out, tuple) else out
        weights = batch.mask.unsqueeze(-1).to(out.dtype)
        return torch.nn.functional.normalize((out * weights).sum(1) / weights.sum(1), dim=-1)

    def forward(self, batch: PaddedBatch) -> torch.Tensor:
        return self.head(self.embed(batch))


def lora_classifier(encoder, n_labels: int, r: int = 8, lora_alpha: int = 16, seed: int = 0):
    """A peft model: LoRA on the last layer's query and value, the head trained in full
    (``modules_to_save``); everything else frozen. ``seed`` draws the head and the LoRA A matrices."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = TopLayerClassifier(encoder, n_labels).eval()  # eval: no dropout, a round is a few steps
    config = LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=0.0, target_modules=["query", "value"],
                        modules_to_save=["head"])
    return get_peft_model(model, config)
