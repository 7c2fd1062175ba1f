"""LABKIT_SEED moves every training seed by one offset; unset, the seeds are the notebooks' own."""

import torch

import labkit
from labkit import train
from labkit.seeding import set_seed, shifted


def test_unset_keeps_the_seeds(monkeypatch):
    monkeypatch.delenv("LABKIT_SEED", raising=False)
    assert shifted(7) == 7 and set_seed(0) == 0
    assert train.run_settings(labkit.profile("ci"), "/tmp/unused", max_steps=1)["seed"] == 42


def test_an_offset_moves_every_draw(monkeypatch):
    monkeypatch.delenv("LABKIT_SEED", raising=False)
    set_seed(0)
    base = torch.rand(3)
    monkeypatch.setenv("LABKIT_SEED", "2")
    assert set_seed(0) == 2 and not torch.equal(torch.rand(3), base)
    assert train.run_settings(labkit.profile("ci"), "/tmp/unused", max_steps=1)["seed"] == 44
    set_seed(-2)  # the same generator state as seed 0 without the offset
    assert torch.equal(torch.rand(3), base)
