"""Shared fixtures: the ci profile, the SmolLM2 tokenizer and a fresh tiny Llama for fast training tests."""

import pytest

import labkit
from labkit import models


@pytest.fixture
def profile():
    return labkit.profile("ci")


@pytest.fixture(scope="session")
def tokenizer():
    return models.load_tokenizer(models.TINY_LLAMA)


@pytest.fixture
def tiny_model(tokenizer):
    return models.tiny_llama(seed=0, vocab_size=len(tokenizer))
