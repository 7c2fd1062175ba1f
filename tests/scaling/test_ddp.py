"""The 2-process run is part of the suite: two gloo ranks on a tiny model give the 1-process losses."""

import socket

import pytest
import torch
import torch.distributed as dist

from labkit import models
from labkit.scaling.ddp import DDPConfig, global_batches, launch, shard


def can_spawn_gloo() -> str | None:
    """Why two local gloo processes cannot run here, or None when they can."""
    if not dist.is_available() or not dist.is_gloo_available():
        return "torch was built without gloo"
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
    except OSError as error:
        return f"no local port to rendezvous on ({error})"
    return None


def test_shards_split_each_global_batch_evenly():
    batch = torch.arange(12).view(4, 3)
    halves = [shard(batch, r, 2) for r in (0, 1)]
    assert sorted(torch.cat(halves)[:, 0].tolist()) == [0, 3, 6, 9]
    with pytest.raises(ValueError, match="does not split evenly"):
        shard(batch, 0, 3)


def test_global_batches_are_the_same_for_the_same_seed():
    blocks = torch.arange(40).view(10, 4)
    assert all(torch.equal(a, b) for a, b in zip(global_batches(blocks, 5, 4, 1), global_batches(blocks, 5, 4, 1)))
    assert not all(torch.equal(a, b) for a, b in zip(global_batches(blocks, 5, 4, 1), global_batches(blocks, 5, 4, 2)))


@pytest.mark.skipif(can_spawn_gloo() is not None, reason=f"cannot spawn 2 gloo processes: {can_spawn_gloo()}")
def test_two_gloo_processes_match_one(tmp_path):
    texts = ["The quick brown fox jumps over the lazy dog. " * 20, "A river runs to the sea past the old mill. " * 20]
    runs = {n: launch(DDPConfig(model=models.TINY_LLAMA, output=str(tmp_path / f"run{n}.json"), steps=3,
                                global_batch=4, seq_len=16, learning_rate=1e-2), texts, processes=n, timeout=300)
            for n in (1, 2)}
    assert runs[2]["processes"] == 2 and runs[2]["backend"] == "gloo"
    assert runs[1]["losses"] == pytest.approx(runs[2]["losses"], abs=1e-4)
    assert runs[1]["losses"][-1] != runs[1]["losses"][0]  # the LoRA weights moved
