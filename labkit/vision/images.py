"""Generated images with known content: one to three shapes of one kind and one colour on a noisy background.

Because every picture is drawn from its labels, a question about it ("What colour are the shapes?") has one right
answer, so a vision-language model can be scored by exact match without a human in the loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

COLOURS = {"red": (0.85, 0.15, 0.15), "green": (0.15, 0.65, 0.25), "blue": (0.15, 0.3, 0.85),
           "yellow": (0.9, 0.8, 0.15)}
SHAPES = ("circle", "square", "triangle")
COUNTS = ("one", "two", "three")
SIZE = 32  # pixels per side
QUESTIONS = {"colour": "What colour are the shapes?", "shape": "What shape are they?",
             "count": "How many shapes are there?"}


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    count: int

    def answer(self, question: str) -> str:
        """The one-word answer to a QUESTIONS key."""
        if question == "colour":
            return self.colour
        if question == "shape":
            return self.shape
        if question == "count":
            return COUNTS[self.count - 1]
        raise ValueError(f"unknown question {question!r}; questions are {', '.join(QUESTIONS)}")

    def caption(self) -> str:
        """'two red circles', 'one blue square'."""
        return f"{COUNTS[self.count - 1]} {self.colour} {self.shape}{'s' if self.count > 1 else ''}"


def _mask(shape: str, cx: float, cy: float, r: float) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE] + 0.5
    if shape == "circle":
        return (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
    if shape == "square":
        return (np.abs(x - cx) <= r * 0.85) & (np.abs(y - cy) <= r * 0.85)
    if shape == "triangle":  # apex up: inside when below the two slanted edges and above the base
        top, base = cy - r, cy + r * 0.8
        half_width = (y - top) / (base - top) * r * 1.1
        return (y >= top) & (y <= base) & (np.abs(x - cx) <= half_width)
    raise ValueError(f"unknown shape {shape!r}; shapes are {', '.join(SHAPES)}")


def draw(scene: Scene, rng: np.random.Generator) -> np.ndarray:
    """An image (3, SIZE, SIZE) in [0, 1]: the scene's shapes at random places that do not overlap."""
    img = np.full((3, SIZE, SIZE), rng.uniform(0.35, 0.65)) + rng.normal(0, 0.04, (3, SIZE, SIZE))
    colour = np.array(COLOURS[scene.colour]) + rng.normal(0, 0.04, 3)
    placed: list[tuple[float, float, float]] = []
    while len(placed) < scene.count:
        r = rng.uniform(4.0, 6.0)
        cx, cy = rng.uniform(r + 1, SIZE - r - 1, 2)
        if all(math.hypot(cx - px, cy - py) > r + pr + 1.5 for px, py, pr in placed):
            placed.append((cx, cy, r))
            img[:, _mask(scene.shape, cx, cy, r)] = colour[:, None]
    return np.clip(img, 0, 1)


def make_scenes(n: int, seed: int) -> list[Scene]:
    """n scenes with colour, shape and count drawn uniformly and independently."""
    rng = np.random.default_rng(seed)
    return [Scene(list(COLOURS)[int(rng.integers(len(COLOURS)))], SHAPES[int(rng.integers(len(SHAPES)))],
                  int(rng.integers(1, len(COUNTS) + 1))) for _ in range(n)]


def render(scenes: list[Scene], seed: int) -> torch.Tensor:
    """The scenes' images as one float tensor (n, 3, SIZE, SIZE)."""
    rng = np.random.default_rng(seed)
    return torch.tensor(np.stack([draw(s, rng) for s in scenes]), dtype=torch.float32)


def attribute_labels(scenes: list[Scene]) -> torch.Tensor:
    """(n, 3) integer labels: colour, shape, count index, the targets the vision encoder is pretrained on."""
    return torch.tensor([[list(COLOURS).index(s.colour), SHAPES.index(s.shape), s.count - 1] for s in scenes])
