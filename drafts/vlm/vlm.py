"""A vision-language model built the LLaVA way: vision encoder -> projector -> the LM's input embeddings.

The encoder turns an image into a grid of feature vectors ("patch tokens"); a two-layer MLP, the projector, maps
each into a vector the size of one of SmolLM2's token embeddings; those *visual tokens* go in front of the text
tokens of a question, and the LM answers as it would answer text. Training goes in two stages, as LLaVA's:
stage 1 trains only the projector (the LM and the encoder frozen: the LM must learn nothing, the projector must
learn to speak its language); stage 2 also trains LoRA adapters on the LM, so the LM learns to use what it sees.

No vision encoder ships offline, so `pretrain_vision` trains a small one here on the generated images' attributes;
the `gpu` profile names SmolVLM instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from images import COLOURS, COUNTS, QUESTIONS, SHAPES, Scene


class VisionEncoder(nn.Module):
    """Image (3, 32, 32) -> a 4 x 4 grid of `dim`-sized patch features, plus heads used only for pretraining."""

    def __init__(self, dim: int = 64):
        super().__init__()
        layers, c_in = [], 3
        for c_out in (32, 64, dim):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.dim = dim
        self.heads = nn.ModuleList([nn.Linear(2 * dim, len(COLOURS)), nn.Linear(2 * dim, len(SHAPES)),
                                    nn.Linear(2 * dim, len(COUNTS))])

    def patches(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, 16, dim): one feature vector per 8 x 8-pixel patch, left to right, top to bottom."""
        return self.conv(images).flatten(2).transpose(1, 2)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        grid = self.patches(images)
        pooled = torch.cat([grid.mean(1), grid.amax(1)], dim=1)
        return [head(pooled) for head in self.heads]


def pretrain_vision(images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int, lr: float = 3e-3,
                    batch_size: int = 64) -> tuple[VisionEncoder, list[float]]:
    """Train the encoder to name each image's colour, shape and count (summed cross-entropy); returns it frozen."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    enc = VisionEncoder().train()
    opt = torch.optim.AdamW(enc.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        loss = sum(nn.functional.cross_entropy(out, labels[idx, i]) for i, out in enumerate(enc(images[idx])))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    enc.eval().requires_grad_(False)
    return enc, losses


@torch.no_grad()
def attribute_accuracy(enc: VisionEncoder, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Held-out accuracy of each pretraining head: colour, shape, count."""
    return [(out.argmax(-1) == labels[:, i]).float().mean().item() for i, out in enumerate(enc.eval()(images))]


class Projector(nn.Module):
    """LLaVA-1.5's projector: Linear -> GELU -> Linear, from patch features to the LM's embedding size."""

    def __init__(self, vision_dim: int, lm_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(vision_dim, lm_dim), nn.GELU(), nn.Linear(lm_dim, lm_dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net(patches)


def prompt_text(question: str) -> str:
    """The text after the visual tokens; `question` is a QUESTIONS key or "caption"."""
    asked = "Describe the image." if question == "caption" else QUESTIONS[question]
    return f"\nQuestion: {asked}\nAnswer:"


def target_text(scene: Scene, question: str) -> str:
    return " " + (scene.caption() if question == "caption" else scene.answer(question))


class VLM(nn.Module):
    """The three parts wired together. `lm` is a causal LM (possibly wrapped by PEFT); the encoder stays frozen."""

    def __init__(self, vision: VisionEncoder, lm: nn.Module, tokenizer):
        super().__init__()
        self.vision, self.lm, self.tokenizer = vision, lm, tokenizer
        self.projector = Projector(vision.dim, lm.get_input_embeddings().embedding_dim)

    def embed(self, images: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Visual tokens followed by the text's token embeddings: (batch, 16 + text length, lm_dim)."""
        with torch.no_grad():
            patches = self.vision.patches(images)
        visual = self.projector(patches)
        text = self.lm.get_input_embeddings()(input_ids)
        return torch.cat([visual.to(text.dtype), text], dim=1)

    def batch(self, scenes: list[Scene], questions: list[str]) -> dict[str, torch.Tensor]:
        """Right-padded prompt + target ids; labels mark only the target (and its end token)."""
        ids, labels = [], []
        for scene, q in zip(scenes, questions):
            p = self.tokenizer(prompt_text(q), add_special_tokens=False).input_ids
            t = self.tokenizer(target_text(scene, q), add_special_tokens=False).input_ids + [self.tokenizer.eos_token_id]
            ids.append(p + t)
            labels.append([-100] * len(p) + t)
        width = max(map(len, ids))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        return {"input_ids": torch.tensor([x + [pad] * (width - len(x)) for x in ids]),
                "labels": torch.tensor([x + [-100] * (width - len(x)) for x in labels]),
                "text_mask": torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in ids])}

    def loss(self, images: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        embeds = self.embed(images, batch["input_ids"])
        n_visual = embeds.shape[1] - batch["input_ids"].shape[1]
        mask = torch.cat([torch.ones(len(images), n_visual, dtype=torch.long), batch["text_mask"]], dim=1)
        labels = torch.cat([torch.full((len(images), n_visual), -100), batch["labels"]], dim=1)
        return self.lm(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss

    @torch.no_grad()
    def answer(self, images: torch.Tensor, question: str, max_new_tokens: int = 6, batch_size: int = 32) -> list[str]:
        """Greedy replies to one question about every image (one question: equal prompt lengths, no padding)."""
        ids = self.tokenizer(prompt_text(question), add_special_tokens=False, return_tensors="pt").input_ids
        replies = []
        for i in range(0, len(images), batch_size):
            chunk = images[i:i + batch_size]
            embeds = self.embed(chunk, ids.expand(len(chunk), -1))
            out = self.lm.generate(inputs_embeds=embeds, attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long),
                                   max_new_tokens=max_new_tokens, do_sample=False,
                                   pad_token_id=self.tokenizer.eos_token_id)
            replies += self.tokenizer.batch_decode(out, skip_special_tokens=True)
        return replies


def score(replies: list[str], scenes: list[Scene], question: str) -> float:
    """Exact match of the reply's first line (stripped, lower case) with the answer or the caption."""
    def clean(text: str) -> str:
        return text.strip().split("\n")[0].strip().rstrip(".").lower()
    truth = [target_text(s, question).strip() for s in scenes]
    return sum(clean(r) == t for r, t in zip(replies, truth)) / len(scenes)


@dataclass
class StageResult:
    losses: list[float] = field(default_factory=list)


def train_stage(vlm: VLM, images: torch.Tensor, scenes: list[Scene], steps: int, seed: int, lr: float,
                batch_size: int = 16, tasks: tuple[str, ...] = ("colour", "shape", "count", "caption")) -> StageResult:
    """AdamW on whatever in `vlm` requires grad (stage 1: the projector; stage 2: projector + LoRA), each example
    one image with one of `tasks` drawn at random."""
    gen = torch.Generator().manual_seed(seed)
    params = [p for p in vlm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    vlm.lm.train()
    result = StageResult()
    for _ in range(steps):
        idx = torch.randint(len(scenes), (batch_size,), generator=gen).tolist()
        qs = [tasks[int(j)] for j in torch.randint(len(tasks), (batch_size,), generator=gen)]
        loss = vlm.loss(images[idx], vlm.batch([scenes[i] for i in idx], qs))
        opt.zero_grad()
        loss.backward()
        opt.step()
        result.losses.append(loss.item())
    vlm.lm.eval()
    return result
