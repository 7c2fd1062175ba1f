"""One call that seeds every random number generator a notebook touches."""

from __future__ import annotations

import random

import numpy as np
import torch


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA); returns the seed so a cell can show it."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    return seed
