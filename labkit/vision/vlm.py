"""A vision-language model built the LLaVA way: vision encoder -> projector -> the LM's input embeddings.

The encoder turns an image into a grid of feature vectors (patch features); *pixel shuffle* (Idefics3 folds 2 x 2
blocks of its grid, SmolVLM 4 x 4) folds each 2 x 2 block of the grid into one longer vector, so 16 patches become
4 visual tokens that lose nothing; a two-layer MLP, the projector, maps each into a vector the size of one of
SmolLM2's token embeddings. Those visual tokens go
in front of the question's text tokens and the LM answers as it would answer text. Training goes in two stages, as
LLaVA's: stage 1 trains only the projector (the LM and the encoder frozen: the projector learns to speak the LM's
language), stage 2 adds LoRA adapters on the LM, so the LM learns to use what it sees.

No vision encoder ships offline, so `pretrain_vision` trains a small one here on the pictures' attributes; the
`gpu` profile fine-tunes SmolVLM by name instead (`labkit.vision.smolvlm`).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import torch
from torch import nn

from labkit import evaluate, progress
from labkit.vision.images import COLOURS, COUNTS, QUESTIONS, SHAPES, Scene

GRID = 4  # the encoder's feature grid is GRID x GRID
SHUFFLE = 2  # pixel shuffle folds SHUFFLE x SHUFFLE patches into one visual token
IMAGE_PREFIX = "Image:"  # the text before the visual tokens
IMAGE_SLOT = -1  # placeholder id where a visual token goes (never a real token id)


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


def pixel_shuffle(patches: torch.Tensor, factor: int = SHUFFLE) -> torch.Tensor:
    """(batch, side*side, dim) -> (batch, (side/factor)**2, dim*factor**2): each factor x factor block of the grid
    becomes one token holding its patches side by side (SmolVLM and Idefics3 do this to spend fewer LM tokens on an
    image). A rearrangement: every number of the input appears once in the output."""
    b, n, d = patches.shape
    side = int(round(n ** 0.5))
    if side * side != n or side % factor:
        raise ValueError(f"pixel_shuffle needs a square grid whose side divides by {factor}; got {n} patches")
    x = patches.reshape(b, side // factor, factor, side // factor, factor, d)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, (side // factor) ** 2, factor * factor * d)


def pretrain_vision(images: torch.Tensor, labels: torch.Tensor, steps: int, seed: int, lr: float = 1e-2,
                    batch_size: int = 64) -> tuple[VisionEncoder, list[float]]:
    """Train the encoder to name each image's colour, shape and count (summed cross-entropy); returns it frozen.

    A one-cycle schedule (warm up to `lr`, then anneal to ~0) makes the result stable: at a constant 3e-3 the
    held-out count accuracy after 200 steps ranged 0.60-0.99 over seeds 0-2, with this schedule 0.96-1.00 over 0-3."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    enc = VisionEncoder().train()
    opt = torch.optim.AdamW(enc.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=gen)
        loss = sum(nn.functional.cross_entropy(out, labels[idx, i]) for i, out in enumerate(enc(images[idx])))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(loss.item())
    enc.eval().requires_grad_(False)
    return enc, losses


@torch.no_grad()
def attribute_accuracy(enc: VisionEncoder, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Held-out accuracy of each pretraining head: colour, shape, count."""
    outs = enc.eval()(images)
    return [evaluate.accuracy(out.argmax(-1).tolist(), labels[:, i].tolist()) for i, out in enumerate(outs)]


class Projector(nn.Module):
    """LLaVA-1.5's projector, Linear -> GELU -> Linear, from (shuffled) patch features to the LM's embedding size,
    after a LayerNorm: a small encoder trained here has features of no set scale (SigLIP, the encoder of Idefics3 and
    SmolVLM, ends in a LayerNorm of its own; Qwen2-VL's merger normalises first too). Without it stage 1 barely
    learned in the drafts (drafts/README.md)."""

    def __init__(self, vision_dim: int, lm_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(vision_dim), nn.Linear(vision_dim, lm_dim), nn.GELU(),
                                 nn.Linear(lm_dim, lm_dim))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.net(patches)


def prompt_text(question: str) -> str:
    """The text after the visual tokens; `question` is a QUESTIONS key."""
    if question not in QUESTIONS:
        raise ValueError(f"unknown question {question!r}; questions are {', '.join(QUESTIONS)}")
    return f"\nQuestion: {QUESTIONS[question]}\nAnswer:"


def answer_token_ids(tokenizer) -> dict[str, int]:
    """Every possible answer's one token (' red', ' square', ' two' ...). One token each, so the LM's next-token
    arg-max after 'Answer:' *is* its answer and one forward scores it; refuses a tokenizer that splits one."""
    words = [*COLOURS, *SHAPES, *COUNTS]
    ids = {w: tokenizer(" " + w, add_special_tokens=False).input_ids for w in words}
    split = [w for w, i in ids.items() if len(i) != 1]
    if split:
        raise ValueError(f"answers {split} are more than one token for this tokenizer; one-token answers are scored "
                         "by the next-token arg-max, so choose words the tokenizer keeps whole")
    return {w: i[0] for w, i in ids.items()}


def _mixed_precision(device: torch.device, dtype: torch.dtype):
    """The forward's precision: autocast to a half-precision profile's dtype, else labkit's CPU bf16 when the CPU
    has it; the trainable weights stay fp32 either way."""
    if dtype in (torch.float16, torch.bfloat16):
        return torch.autocast(device.type, dtype=dtype)
    return evaluate.autocast(device) if device.type in ("cpu", "cuda") else contextlib.nullcontext()


class VLM(nn.Module):
    """The three parts wired together. `lm` is a causal LM (possibly wrapped by PEFT); the encoder stays frozen."""

    def __init__(self, vision: VisionEncoder, lm: nn.Module, tokenizer, shuffle: int = SHUFFLE):
        super().__init__()
        self.vision, self.lm, self.tokenizer, self.shuffle = vision.to(lm.device), lm, tokenizer, shuffle
        lm_dim = lm.get_input_embeddings().embedding_dim
        self.projector = Projector(vision.dim * shuffle * shuffle, lm_dim).to(lm.device)
        self.answer_ids = answer_token_ids(tokenizer)

    @property
    def n_visual_tokens(self) -> int:
        return (GRID // self.shuffle) ** 2

    def visual_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, n_visual_tokens, lm_dim): the image as the LM sees it."""
        with torch.no_grad():
            patches = self.vision.eval().patches(images)  # eval: `model.train()` must not move its BatchNorm statistics
        return self.projector(pixel_shuffle(patches, self.shuffle))

    def next_token_logits(self, images: torch.Tensor, questions: list[str]) -> torch.Tensor:
        """(batch, vocab) logits after 'Answer:' for each image with its question, in one forward.

        Each row is 'Image:', one placeholder per visual token, then the question, as LLaVA lays out its prompt; the
        placeholders' embeddings are replaced by the projected image (HF's VLMs do the same with `masked_scatter`).
        The text before the image matters: an LM piles attention on its first position (the "attention sink"), so
        an image placed first would be read least. Questions differ in length, so rows are padded on the left and
        positions count only real tokens: every row ends at its 'Answer:', where alone the LM computes logits
        (`logits_to_keep=1`)."""
        device = self.lm.device
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        before = self.tokenizer(IMAGE_PREFIX, add_special_tokens=False).input_ids
        rows = [before + [IMAGE_SLOT] * self.n_visual_tokens + self.tokenizer(prompt_text(q), add_special_tokens=False).input_ids
                for q in questions]
        width = max(map(len, rows))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        is_image = ids == IMAGE_SLOT
        with _mixed_precision(device, self.lm.dtype):
            visual = self.visual_tokens(images.to(device))
            embeds = self.lm.get_input_embeddings()(ids.masked_fill(is_image, pad))
            embeds = embeds.masked_scatter(is_image[..., None], visual.to(embeds.dtype))
            positions = (mask.cumsum(1) - 1).clamp(min=0)
            out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, logits_to_keep=1)
        return out.logits[:, -1].float()

    def loss(self, images: torch.Tensor, scenes: list[Scene], questions: list[str]) -> torch.Tensor:
        """Cross-entropy of each right answer's token after 'Answer:' (the whole vocabulary competes)."""
        targets = torch.tensor([self.answer_ids[s.answer(q)] for s, q in zip(scenes, questions)], device=self.lm.device)
        return nn.functional.cross_entropy(self.next_token_logits(images, questions), targets)

    @torch.no_grad()
    def answers(self, images: torch.Tensor, question: str, batch_size: int = 64) -> list[str]:
        """The LM's next token after 'Answer:' for every image, decoded and stripped: its one-word answer."""
        was_training = self.lm.training
        self.lm.eval()
        words = []
        for i in range(0, len(images), batch_size):
            chunk = images[i:i + batch_size]
            logits = self.next_token_logits(chunk, [question] * len(chunk))
            words += [self.tokenizer.decode([t]).strip().lower() for t in logits.argmax(-1).tolist()]
        self.lm.train(was_training)
        return words


def vqa_accuracy(vlm: VLM, images: torch.Tensor, scenes: list[Scene], question: str) -> float:
    """Exact match of the VLM's one-word answers with the true ones, over the whole vocabulary (no answer list)."""
    return evaluate.accuracy(vlm.answers(images, question), [s.answer(question) for s in scenes])


@dataclass
class StageResult:
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_stage(vlm: VLM, images: torch.Tensor, scenes: list[Scene], steps: int, seed: int, lr: float,
                batch_size: int = 16, desc: str = "training") -> StageResult:
    """AdamW on whatever in `vlm` requires grad (stage 1: the projector; stage 2: projector + LoRA); each example is
    one image with one of the questions, drawn at random. A progress bar in a notebook or a terminal."""
    from tqdm.auto import tqdm

    gen = torch.Generator().manual_seed(seed)
    params = [p for p in vlm.parameters() if p.requires_grad]
    if not params:
        raise ValueError("nothing in the VLM requires grad: unfreeze the projector (stage 1) or add LoRA (stage 2)")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    # fp16 (a T4, or LABKIT_DTYPE=float16) needs loss scaling, or small gradients round to zero; the weights that
    # train are fp32 in every precision (the projector is built in fp32, LoRA by `train.fp32_master_weights`)
    scaler = torch.amp.GradScaler(vlm.lm.device.type, enabled=vlm.lm.dtype == torch.float16)
    kinds = list(QUESTIONS)
    vlm.lm.train()
    result = StageResult()
    start = time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=progress.bars_disabled() or not progress.interactive())
    for _ in bar:
        idx = torch.randint(len(scenes), (batch_size,), generator=gen).tolist()
        qs = [kinds[int(j)] for j in torch.randint(len(kinds), (batch_size,), generator=gen)]
        loss = vlm.loss(images[idx], [scenes[i] for i in idx], qs)
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        result.losses.append(loss.item())
        bar.set_postfix(loss=f"{result.losses[-1]:.3f}", refresh=False)
    vlm.lm.eval()
    result.seconds = time.perf_counter() - start
    return result
