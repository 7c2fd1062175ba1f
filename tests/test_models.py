import os
import subprocess
import sys
import time

import pytest
import torch

from labkit import evaluate, models
from labkit.errors import ConfigError, ModelError


def test_unknown_name_lists_offline_models_and_profiles():
    with pytest.raises(ModelError) as error:
        models.load_model("smollm-9000")
    message = str(error.value)
    assert models.SMOLLM2 in message and models.MINILM in message and "LABKIT_PROFILE=cpu" in message


def test_unreachable_hub_id_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # nothing cached here
    start = time.perf_counter()
    with pytest.raises(ModelError, match="cannot be reached") as error:
        models.load_model("HuggingFaceTB/SmolLM2-360M-Instruct")
    assert time.perf_counter() - start < 10
    assert models.SMOLLM2 in str(error.value)


def test_smollm2_is_a_real_pretrained_model():
    tokenizer = models.load_tokenizer(models.SMOLLM2)
    model = models.load_model(models.SMOLLM2)
    assert models.parameter_count(model) == 134_515_008
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    reply = evaluate.generate(model, tokenizer, ["What is the capital of France?"], max_new_tokens=12)[0]
    assert "Paris" in reply


def test_minilm_embeds_similar_sentences_close():
    encoder = models.load_sentence_encoder()
    a, b, c = encoder.encode(["A cat sits on the mat.", "A kitten is sitting on a rug.", "Stock prices fell."],
                             convert_to_tensor=True, normalize_embeddings=True)
    assert a.shape == (384,)
    assert float(a @ b) > float(a @ c) + 0.3


def test_tiny_llama_is_small_and_trainable():
    model = models.load_model(models.TINY_LLAMA)
    assert models.parameter_count(model) < 4_000_000
    assert models.parameter_count(model, trainable_only=True) == models.parameter_count(model)


def test_unknown_kind_is_rejected():
    with pytest.raises(ConfigError, match="kind"):
        models.load_model(models.TINY_LLAMA, kind="vision")


CONVERT = "from labkit import models; print(models.prepare_smollm2())"


def test_concurrent_first_use_converts_once_and_leaves_a_sound_cache(tmp_path, monkeypatch):
    env = {**os.environ, "LABKIT_CACHE": str(tmp_path), "TQDM_DISABLE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", CONVERT], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert sum(out.count("Converting") for out in outputs) == 1  # the second waited for the first
    folder = tmp_path / models.SMOLLM2
    assert (folder / models.COMPLETE_MARKER).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind
    reference = models.load_model(models.SMOLLM2)
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    model = models.load_model(models.SMOLLM2)
    assert torch.equal(model.model.embed_tokens.weight, reference.model.embed_tokens.weight)


def test_gguf_path_is_the_shipped_4bit_file():
    path = models.gguf_path()
    assert path.name == models.SMOLLM2_GGUF and path.exists()
    assert 80e6 < path.stat().st_size < 120e6  # ~5 bits per weight for 135M weights, not 32
