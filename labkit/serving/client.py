"""Start the chat server as a subprocess, talk to it with the standard library, measure it.

``serve(...)`` is a context manager: it picks a free port, starts
``python -m labkit.serving.server``, polls ``/health`` until the model is loaded and always stops
the process (on leaving the block, on an error, and at interpreter exit). If the server dies or
never answers, it raises :class:`~labkit.errors.ResourceError` naming its log file.
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from labkit.errors import ModelError, ResourceError


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Server:
    """A running server: its ``url``, process and the file holding its stdout and stderr."""

    url: str
    process: subprocess.Popen
    log_file: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _log_tail(path: Path, lines: int = 8) -> str:
    text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
    return "\n    ".join(text[-lines:]) or "(empty)"


def start(model: str | Path, port: int | None = None, batch: bool = False, kv_cache: bool = True,
          log: str | Path | None = None, dtype: str = "float32", extra: list[str] | None = None, timeout: float = 180.0) -> Server:
    """Start the server for ``model`` and wait until ``/health`` answers; prefer :func:`serve`, which always stops it."""
    model = str(model)
    if ("/" in model or os.sep in model) and Path(model).parent.exists() and not Path(model).is_dir():
        raise ModelError("no saved model at this path", model, "save the model with save_pretrained(path) first")
    port = port or free_port()
    if port_in_use(port):
        raise ResourceError(f"port {port} is already in use", "serve()", "pass another port, or port=None for a free one")
    command = [sys.executable, "-m", "labkit.serving.server", "--model", model, "--port", str(port), "--dtype", dtype]
    command += ["--batch"] * batch + ["--no-kv-cache"] * (not kv_cache) + (["--log", str(log)] if log else []) + (extra or [])
    log_file = Path(tempfile.mkstemp(prefix=f"labkit-server-{port}-", suffix=".log")[1])
    with open(log_file, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", process, log_file)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ResourceError(f"the server exited with status {process.returncode} before it was ready",
                                str(log_file), f"read the log:\n    {_log_tail(log_file)}")
        try:
            with urllib.request.urlopen(server.url + "/health", timeout=2) as reply:
                if reply.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    server.stop()
    raise ResourceError(f"the server did not answer /health within {timeout:.0f} s", str(log_file),
                        "read the log; a slow machine may need a longer timeout")


@contextmanager
def serve(model: str | Path, **options) -> Iterator[Server]:
    """``with serve(path, batch=True) as server: chat(server.url, ...)``; the server stops on leaving."""
    server = start(model, **options)
    try:
        yield server
    finally:
        server.stop()


def chat(url: str, prompt: str, max_tokens: int = 32, temperature: float = 0.0, timeout: float = 300.0,
         ignore_eos: bool = False) -> dict:
    """One ``POST /v1/chat/completions`` with a single user message; the parsed JSON answer.

    ``ignore_eos`` (vLLM's extension) asks for exactly ``max_tokens`` tokens, as serving benchmarks do,
    so that every setting generates the same work however short the model's own answers are.
    """
    body = json.dumps({"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                       "temperature": temperature, "ignore_eos": ignore_eos}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as reply:
        return json.loads(reply.read())


def configure(url: str, batch: bool | None = None, kv_cache: bool | None = None) -> dict:
    """Switch batching and/or the KV cache on a running server (``POST /labkit/settings``); its new settings.

    One server then serves every setting of a comparison: a model load per setting costs seconds
    that measure nothing the lesson is about.
    """
    body = json.dumps({"batch": batch, "kv_cache": kv_cache}).encode()
    request = urllib.request.Request(url + "/labkit/settings", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def reply_text(answer: dict) -> str:
    return answer["choices"][0]["message"]["content"]


def load_test(url: str, prompts: list[str], concurrency: int, max_tokens: int = 32, ignore_eos: bool = False) -> dict:
    """Send every prompt with ``concurrency`` clients at once: latency p50/p95 (s), requests/s, tokens/s.

    Each client thread sends its next request as soon as its last one is answered, as a closed-loop
    benchmark does. tokens/s counts generated tokens (``usage.completion_tokens``).
    """
    def timed(prompt: str) -> tuple[float, dict]:
        start = time.perf_counter()
        answer = chat(url, prompt, max_tokens, ignore_eos=ignore_eos)
        return time.perf_counter() - start, answer

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, prompts))
    wall = time.perf_counter() - start
    latencies = np.array([seconds for seconds, _ in results])
    tokens = sum(answer["usage"]["completion_tokens"] for _, answer in results)
    return dict(concurrency=concurrency, requests=len(prompts), p50_s=float(np.percentile(latencies, 50)),
                p95_s=float(np.percentile(latencies, 95)), requests_per_s=len(prompts) / wall,
                tokens_per_s=tokens / wall, mean_batch=float(np.mean([a["labkit"]["batch_size"] for _, a in results])),
                replies=[reply_text(a) for _, a in results])
