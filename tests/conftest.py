"""Shared fixtures: the SmolLM2 tokenizer and a fresh tiny Llama for fast training tests."""

import pytest

from labkit import models


@pytest.fixture(scope="session")
def tokenizer():
    return models.load_tokenizer(models.TINY_LLAMA)


@pytest.fixture
def tiny_model(tokenizer):
    return models.tiny_llama(seed=0, vocab_size=len(tokenizer))
