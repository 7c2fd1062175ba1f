"""One call that seeds every random number generator a notebook touches.

``LABKIT_SEED`` shifts every seed labkit uses for *training* randomness (weight initialisation,
batch order, sampling, the trainers' seed) by the same amount, so a whole notebook can be re-run
under another seed to check that its effects do not hang on one lucky draw (``make robustness``).
The course data files and their generators keep their fixed seeds: the task stays the same.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def shifted(seed: int) -> int:
    """``seed`` moved by ``$LABKIT_SEED`` (0 when unset): every training seed goes through here."""
    return seed + int(os.environ.get("LABKIT_SEED", "0"))


def set_seed(seed: int = 0) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA) with ``shifted(seed)``; returns it so a cell can show it."""
    seed = shifted(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    return seed
