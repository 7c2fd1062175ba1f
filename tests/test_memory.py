"""memory: saved-activation counts and the RSS peak see what gradient checkpointing saves."""

import time

import numpy as np
import torch

from labkit import memory, models


def test_saved_for_backward_counts_activations_and_checkpointing_shrinks_them():
    model = models.tiny_llama(seed=0, vocab_size=512)
    model.train()
    ids = torch.randint(0, 512, (2, 128))
    _, plain = memory.saved_for_backward(model, lambda: model(input_ids=ids, labels=ids).loss)
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    loss, checkpointed = memory.saved_for_backward(model, lambda: model(input_ids=ids, labels=ids).loss)
    loss.backward()  # still trains: the layers recompute what they did not keep
    assert plain > 1.0  # MiB: 2 layers x 256 tokens x 64-wide activations, attention and the 512-way logits
    assert checkpointed < 0.8 * plain
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_saved_for_backward_ignores_parameters():
    layer = torch.nn.Linear(256, 256)
    x = torch.randn(1, 256, requires_grad=True)
    _, mib = memory.saved_for_backward(layer, lambda: layer(x).sum())
    assert mib < 0.01  # only the 1 KiB input is saved; the 256 KiB weight is a parameter


def test_release_freed_memory_returns_freed_heap_blocks_to_the_system():
    blocks = [np.ones(100 * 1024 // 8) for _ in range(1000)]  # 100 KiB each: glibc's heap, not mmap
    del blocks[::2]  # every other block freed: holes the allocator keeps for reuse
    held = memory.PeakMemory.rss_mib()
    memory.release_freed_memory()
    assert memory.PeakMemory.rss_mib() < held - 25  # ~49 MiB were free but still resident
    assert len(blocks) == 500


def test_peak_memory_sees_a_large_temporary_allocation():
    with memory.PeakMemory(interval=0.001) as peak:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block.sum()
        time.sleep(0.5)  # long enough for the sampling thread to run even when the 2 cores are busy
        del block
    assert peak.added > 40 and peak.peak >= peak.start
