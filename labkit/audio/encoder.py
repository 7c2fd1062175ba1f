"""A small convolutional audio encoder, pretrained on one task and fine-tuned on another with few labels.

No pretrained audio encoder ships in a wheel, so notebook 26 pretrains one on the spot on generated clips with
plentiful labels (`sounds.KINDS`), then measures what pretraining is worth where labels are scarce: the same
architecture fine-tuned from those weights or trained from random ones on k labelled clips per class of a new task
(`sounds.ALARMS`). In the `gpu` profile `whisper_encoder` puts Whisper's pretrained encoder in the same place.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
from torch import nn

from labkit import evaluate
from labkit.audio.features import N_MELS


class AudioEncoder(nn.Module):
    """Log-mel frames (batch, mels, frames) -> one embedding per clip: four conv blocks, then the mean and the max
    over time and frequency (the mean hears steady sounds, the max short events)."""

    def __init__(self, width: int = 32, n_mels: int = N_MELS):
        super().__init__()
        chans = [1, width, 2 * width, 4 * width, 4 * width]
        blocks = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
        self.conv = nn.Sequential(*blocks)
        self.dim = 2 * chans[-1]

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        h = self.conv(logmel.unsqueeze(1))
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)


class Classifier(nn.Module):
    """An encoder and a linear head: the head is new for every task, the encoder is what transfers."""

    def __init__(self, encoder: nn.Module, n_classes: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.dim, n_classes)

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(logmel))


@dataclass
class TrainResult:
    model: Classifier
    losses: list[float] = field(default_factory=list)  # one per step


def train_classifier(model: Classifier, features: torch.Tensor, labels: torch.Tensor, steps: int, seed: int,
                     lr: float = 2e-3, batch_size: int = 32, device: str = "cpu",
                     freeze_encoder: bool = False) -> TrainResult:
    """AdamW on cross-entropy for a fixed number of steps, batches drawn with replacement under `seed`.

    A fixed step count (not epochs) gives every run the same compute whatever the number of labels, so a
    few-label run is not short-changed. `freeze_encoder` trains the head alone (a linear probe)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = model.to(device).train()
    if freeze_encoder:
        model.encoder.eval()  # batch-norm statistics stay those of pretraining
    params = model.head.parameters() if freeze_encoder else model.parameters()
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-2)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(labels), (min(batch_size, len(labels)),), generator=gen)
        x, y = features[idx].to(device), labels[idx].to(device)
        if freeze_encoder:
            with torch.no_grad():
                emb = model.encoder(x)
            logits = model.head(emb)
        else:
            logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return TrainResult(model.eval(), losses)


@torch.no_grad()
def accuracy(model: nn.Module, features: torch.Tensor, labels: torch.Tensor, device: str = "cpu",
             batch_size: int = 128) -> float:
    """Share of clips whose arg-max class is the label (the model in eval mode)."""
    model = model.to(device).eval()
    preds = torch.cat([model(features[i:i + batch_size].to(device)).argmax(-1).cpu()
                       for i in range(0, len(labels), batch_size)])
    return evaluate.accuracy(preds.tolist(), labels.tolist())


def fine_tune(pretrained: AudioEncoder | None, n_classes: int, features: torch.Tensor, labels: torch.Tensor,
              steps: int, seed: int, lr: float = 2e-3, device: str = "cpu", width: int = 32) -> Classifier:
    """A fresh head on a copy of `pretrained` (or, with None, on a randomly initialised encoder of the same shape,
    seeded alike), all weights trained: the comparison notebook 26 makes."""
    torch.manual_seed(seed)
    encoder = copy.deepcopy(pretrained) if pretrained is not None else AudioEncoder(width=width)
    model = Classifier(encoder, n_classes)
    return train_classifier(model, features, labels, steps, seed, lr=lr, device=device).model


def linear_probe(pretrained: nn.Module, n_classes: int, features: torch.Tensor, labels: torch.Tensor, steps: int,
                 seed: int, lr: float = 1e-2, device: str = "cpu") -> Classifier:
    """A fresh head on a frozen copy of `pretrained`: how far the pretrained features go unchanged."""
    torch.manual_seed(seed)
    model = Classifier(copy.deepcopy(pretrained), n_classes)
    return train_classifier(model, features, labels, steps, seed, lr=lr, device=device, freeze_encoder=True).model


class WhisperEncoderPool(nn.Module):
    """Whisper's encoder (the `gpu` profile's pretrained audio model) as an `AudioEncoder` stand-in: log-mel in,
    the mean of its last hidden states out. Whisper expects 30 s of frames (3000), so shorter clips are padded
    with the features of silence, as its feature extractor does."""

    def __init__(self, whisper_encoder: nn.Module, frames: int = 3000):
        super().__init__()
        self.whisper = whisper_encoder
        self.frames = frames
        self.dim = whisper_encoder.config.d_model

    def forward(self, logmel: torch.Tensor) -> torch.Tensor:
        t = logmel.shape[-1]
        pad = logmel.new_full((*logmel.shape[:-1], self.frames - t), float(logmel.amin()))
        x = torch.cat([logmel, pad], dim=-1).to(next(self.whisper.parameters()).dtype)
        hidden = self.whisper(x).last_hidden_state  # (batch, frames / 2, d_model)
        used = max(1, t // 2)  # positions that saw the clip, not the padding
        return hidden[:, :used].float().mean(dim=1)


def whisper_encoder(name: str = "openai/whisper-tiny", device: str = "cpu") -> WhisperEncoderPool:
    """Whisper's pretrained encoder by Hub name (the `gpu` profile; needs the Hub or a local copy)."""
    from transformers import WhisperModel

    from labkit.errors import ModelError
    from labkit.models import OFFLINE_FIX

    try:
        model = WhisperModel.from_pretrained(name, use_safetensors=True)
    except OSError as err:
        raise ModelError(f"cannot be loaded ({str(err).splitlines()[0]})", f"model {name!r}", OFFLINE_FIX) from err
    return WhisperEncoderPool(model.get_encoder()).to(device)
