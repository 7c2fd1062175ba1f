import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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


ROOT = Path(__file__).resolve().parents[1]

# Both racers import labkit, then wait at a barrier (a folder both write into) so that they ask for
# the model within milliseconds of each other, long before either could finish a ~20 s conversion.
RACE = """
import sys, time, pathlib
from labkit import models
barrier = pathlib.Path(sys.argv[1]); (barrier / sys.argv[2]).touch()
while len(list(barrier.iterdir())) < 2:
    time.sleep(0.005)
print("ready at", models.prepare_smollm2())
"""
# A real conversion, killed (SIGKILL: no finally, no atexit) right after the weights are written.
KILLED = """
import os, signal
from transformers import PreTrainedModel
from labkit import models
save = PreTrainedModel.save_pretrained
def save_then_die(self, *args, **kwargs):
    save(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
PreTrainedModel.save_pretrained = save_then_die
models.prepare_smollm2()
"""


def python(code: str, cache: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LABKIT_CACHE": str(cache), "TQDM_DISABLE": "1",
           "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_a_killed_conversion_leaves_nothing_complete_and_racing_first_uses_convert_once(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    killed = python(KILLED, cache)
    output = killed.communicate(timeout=300)[0]
    assert killed.returncode == -signal.SIGKILL, output
    staged = [p for p in cache.iterdir() if p.name.startswith(".")]
    assert len(staged) == 1 and (staged[0] / "model.safetensors").exists()  # it died mid-write
    assert not (cache / models.SMOLLM2).exists()  # and nothing a later load could take for the model
    (cache / models.SMOLLM2).mkdir()  # what an older labkit's interrupted conversion left: no marker
    (cache / models.SMOLLM2 / "config.json").write_text("{")

    (tmp_path / "barrier").mkdir()
    racers = [python(RACE, cache, str(tmp_path / "barrier"), str(i)) for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in racers]
    assert [p.returncode for p in racers] == [0, 0], outputs
    text = "".join(outputs)
    assert text.count("Converting") == 1 and text.count("waiting for it") == 1  # they raced; one converted
    assert text.count("interrupted conversion") == 1 and text.count("ready at") == 2
    assert sorted(p.name for p in cache.iterdir()) == [models.SMOLLM2, f"{models.SMOLLM2}.lock"]
    assert (cache / models.SMOLLM2 / models.COMPLETE_MARKER).exists()

    tokenizer = models.load_tokenizer(models.SMOLLM2)
    inputs = tokenizer(["The capital of France is"], return_tensors="pt")
    with torch.no_grad():
        shared = models.load_model(models.SMOLLM2)(**inputs).logits
        monkeypatch.setenv("LABKIT_CACHE", str(cache))
        fresh = models.load_model(models.SMOLLM2)(**inputs).logits
    assert torch.equal(fresh, shared)


def test_gguf_path_is_the_shipped_4bit_file():
    path = models.gguf_path()
    assert path.name == models.SMOLLM2_GGUF and path.exists()
    assert 80e6 < path.stat().st_size < 120e6  # ~5 bits per weight for 135M weights, not 32
