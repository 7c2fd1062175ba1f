"""Measuring the memory a training step needs (notebook 10: gradient checkpointing).

Two measurements, because each alone misleads a little:

* :func:`saved_for_backward` counts the bytes of the tensors autograd keeps for the backward pass
  (the *activations*), exactly, through ``torch.autograd.graph.saved_tensors_hooks``. Gradient
  checkpointing exists to shrink exactly this.
* :class:`PeakMemory` records the peak of the whole process while a block runs: CUDA's
  ``max_memory_allocated`` on a GPU, else the resident set size (RSS) sampled by a thread. On a CPU
  the allocator keeps freed memory, so compare blocks in the order smaller-first, or in fresh processes.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

import torch


class PeakMemory:
    """Peak memory while the ``with`` block runs, in MiB.

    ``.peak`` is the highest value seen, ``.added`` the rise above the value at the start (what the
    block itself needed). On CPU the RSS is sampled every ``interval`` seconds.
    """

    def __init__(self, interval: float = 0.005):
        self.interval, self.start, self.peak, self.added = interval, 0.0, 0.0, 0.0
        self._stop = threading.Event()
        self._cuda = torch.cuda.is_available()

    @staticmethod
    def rss_mib() -> float:
        import psutil

        return psutil.Process(os.getpid()).memory_info().rss / 2**20

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.rss_mib())

    def __enter__(self) -> "PeakMemory":
        if self._cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.start = torch.cuda.memory_allocated() / 2**20
        else:
            self.start = self.peak = self.rss_mib()
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated() / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, self.rss_mib())
        self.added = self.peak - self.start


def release_freed_memory() -> None:
    """Hand memory that Python and the C allocator hold but no longer use back to the system.

    On a CPU, :class:`PeakMemory` reads the resident set size. glibc keeps freed blocks for reuse,
    so a block measured after another one finds memory already there and seems to need less.
    Calling this first (a garbage collection, then glibc's ``malloc_trim``) makes blocks measured
    one after another comparable. Elsewhere (no glibc) it only collects garbage.
    """
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def saved_for_backward(model: torch.nn.Module, forward: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    """Run ``forward()`` and return its output and the MiB of tensors autograd saved for backward.

    Each storage counts once (autograd often saves one tensor, or views of it, several times).
    ``model``'s parameters are left out: they are in memory anyway. Under gradient checkpointing
    a checkpointed layer keeps only its input; it recomputes the rest during backward.
    """
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = forward()
    return output, sum(seen.values()) / 2**20
