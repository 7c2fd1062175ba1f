"""An OpenAI-compatible chat server for one causal LM: ``python -m labkit.serving.server --model PATH``.

Why our own and not ``transformers serve``: a lesson on serving needs to switch batching and the KV
cache on and off and see what each costs; here both are one flag. The API is the shape clients
already speak (OpenAI's ``POST /v1/chat/completions``)::

    request  {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 32, "temperature": 0}
    response {"choices": [{"index": 0, "message": {"role": "assistant", "content": "..."},
              "finish_reason": "stop" | "length"}],
              "usage": {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}, ...}

``GET /health`` answers ``{"status": "ok"}`` once the model is loaded. ``temperature`` 0 (the
default here) is greedy decoding; above 0 the reply is sampled, one request at a time.
``"ignore_eos": true`` (vLLM's extension) generates exactly ``max_tokens`` tokens, as serving
benchmarks ask, so every setting does the same work however short the model's own replies are.

**Batching** (``--batch``): requests wait in a queue; the worker takes the first, gathers whatever
else arrives within ``--batch-wait-ms`` (up to ``--max-batch``), left-pads the prompts and generates
them in one call. The attention mask hides the padding and generation derives position ids from it,
so a greedy reply is the same alone or in a batch (up to float rounding: see notebook 22). Without
``--batch`` the same worker takes one request at a time. ``--no-kv-cache`` passes
``use_cache=False``: every new token re-reads the whole sequence.

``POST /labkit/settings`` with ``{"batch": true}`` and/or ``{"kv_cache": false}`` switches either
setting on the running server (not an OpenAI route; labkit's own), so a lesson compares settings
without paying a model load per setting. Requests already gathered finish with the old settings;
switch between benchmark runs, not during one. It answers like ``/health``.

**Traffic log** (``--log PATH``): one JSON object per line, appended as each request is answered::

    {"time": "2026-12-07T05:00:00.123+00:00", "prompt": "<last user message>", "messages": [...],
     "reply": "...", "latency_s": 0.41, "prompt_tokens": 12, "completion_tokens": 9,
     "batch_size": 4, "max_tokens": 32, "temperature": 0.0}

``latency_s`` runs from the request's arrival to its reply (queueing included); ``batch_size`` is
how many requests shared its generate call.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from pydantic import BaseModel


class Message(BaseModel):
    """One chat message, as OpenAI's API spells it."""

    role: str
    content: str


class ChatRequest(BaseModel):
    """The fields of ``POST /v1/chat/completions`` this server reads (others are ignored)."""

    messages: list[Message]
    max_tokens: int = 64
    temperature: float = 0.0
    model: str | None = None
    ignore_eos: bool = False  # vLLM's extension: generate exactly max_tokens tokens (benchmarks)


class Settings(BaseModel):
    """``POST /labkit/settings``: the settings to change; a field left out keeps its value."""

    batch: bool | None = None
    kv_cache: bool | None = None


@dataclass
class Job:
    """One chat request waiting for the worker, and where its answer goes."""

    messages: list[dict]
    max_tokens: int
    temperature: float
    ignore_eos: bool = False
    arrived: float = field(default_factory=time.perf_counter)
    done: threading.Event = field(default_factory=threading.Event)
    reply: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    batch_size: int = 1
    error: str | None = None


def prompt_text(tokenizer, messages: list[dict]) -> str:
    """The chat-template text for ``messages`` with the assistant turn left open (as ``data.chat_prompt``)."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@torch.no_grad()
def generate_batch(model, tokenizer, jobs: list[Job], use_cache: bool = True) -> None:
    """Answer ``jobs`` in one left-padded ``generate`` call, filling each job's reply and token counts.

    All rows run to the longest ``max_tokens``; each reply is then cut to its own budget. Greedy
    decoding makes the cut reply equal to what a shorter run would have produced.
    """
    texts = [prompt_text(tokenizer, job.messages) for job in jobs]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    batch = batch.to(next(model.parameters()).device)
    sampled = jobs[0].temperature > 0
    options = dict(do_sample=True, temperature=jobs[0].temperature, top_p=1.0, top_k=0) if sampled else dict(do_sample=False)
    if jobs[0].ignore_eos:  # a batch holds jobs alike in this (Worker._gather): every row runs its full budget
        options["min_new_tokens"] = max(job.max_tokens for job in jobs)
    out = model.generate(**batch, max_new_tokens=max(job.max_tokens for job in jobs), use_cache=use_cache,
                         pad_token_id=tokenizer.pad_token_id, **options)
    new = out[:, batch["input_ids"].shape[1]:]
    for job, row, mask in zip(jobs, new, batch["attention_mask"]):
        ids = row[: job.max_tokens].tolist()
        if tokenizer.eos_token_id in ids and not job.ignore_eos:
            ids, job.finish_reason = ids[: ids.index(tokenizer.eos_token_id)], "stop"
        else:
            job.finish_reason = "length"
        job.reply = tokenizer.decode(ids, skip_special_tokens=True).strip()
        job.prompt_tokens, job.completion_tokens = int(mask.sum()), len(ids)
        job.batch_size = len(jobs)


class Worker:
    """The one thread that runs the model: takes jobs from a queue, alone or gathered into batches."""

    def __init__(self, model, tokenizer, batch: bool = False, max_batch: int = 8, wait_ms: float = 30.0,
                 use_cache: bool = True, log: Path | None = None):
        self.model, self.tokenizer = model, tokenizer
        self.batch, self.max_batch, self.wait_s, self.use_cache = batch, max_batch, wait_ms / 1000, use_cache
        self.log, self.log_lock = log, threading.Lock()
        self.jobs: queue.Queue[Job] = queue.Queue()
        threading.Thread(target=self._run, daemon=True, name="labkit-serving-worker").start()

    def submit(self, job: Job) -> Job:
        self.jobs.put(job)
        job.done.wait()
        return job

    def _gather(self) -> list[Job]:
        """The first waiting job and, when batching, the greedy jobs that arrive within the wait."""
        jobs = [self.jobs.get()]
        if not self.batch or jobs[0].temperature > 0:
            return jobs
        deadline = time.perf_counter() + self.wait_s
        while len(jobs) < self.max_batch:
            try:
                job = self.jobs.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if job.temperature > 0 or job.ignore_eos != jobs[0].ignore_eos:  # sampled or unlike jobs wait
                self.jobs.put(job)
                break
            jobs.append(job)
        return jobs

    def _run(self) -> None:
        while True:
            jobs = self._gather()
            try:
                generate_batch(self.model, self.tokenizer, jobs, self.use_cache)
            except Exception as error:  # a failed generate answers its requests with the error, not a hang
                for job in jobs:
                    job.error = f"{type(error).__name__}: {error}"
            for job in jobs:
                self._write_log(job, time.perf_counter() - job.arrived)
                job.done.set()

    def _write_log(self, job: Job, latency: float) -> None:
        if self.log is None or job.error:
            return
        users = [m["content"] for m in job.messages if m.get("role") == "user"]
        line = dict(time=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                    prompt=users[-1] if users else "", messages=job.messages, reply=job.reply,
                    latency_s=round(latency, 4), prompt_tokens=job.prompt_tokens,
                    completion_tokens=job.completion_tokens, batch_size=job.batch_size,
                    max_tokens=job.max_tokens, temperature=job.temperature)
        with self.log_lock, open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")


def build_app(worker: Worker, model_name: str):
    """The FastAPI app: ``/health`` and ``/v1/chat/completions`` in front of ``worker``."""
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="labkit chat server")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "model": model_name, "batch": worker.batch, "kv_cache": worker.use_cache}

    @app.post("/labkit/settings")
    def settings(change: Settings) -> dict:
        if change.batch is not None:
            worker.batch = change.batch
        if change.kv_cache is not None:
            worker.use_cache = change.kv_cache
        return health()

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest) -> dict:  # a plain def: FastAPI runs it in a thread, so requests wait concurrently
        if not request.messages or request.max_tokens < 1 or request.temperature < 0:
            raise HTTPException(422, "need at least one message, max_tokens >= 1 and temperature >= 0")
        job = worker.submit(Job([m.model_dump() for m in request.messages], request.max_tokens, request.temperature,
                                request.ignore_eos))
        if job.error:
            raise HTTPException(500, job.error)
        return {
            "id": f"chatcmpl-{id(job):x}", "object": "chat.completion", "created": int(time.time()), "model": model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": job.reply},
                         "finish_reason": job.finish_reason}],
            "usage": {"prompt_tokens": job.prompt_tokens, "completion_tokens": job.completion_tokens,
                      "total_tokens": job.prompt_tokens + job.completion_tokens},
            "labkit": {"batch_size": job.batch_size},
        }

    return app


def _exit_with_parent(parent: int) -> None:
    """Stop when the process that started us is gone (a killed notebook kernel runs no atexit hooks)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.serving.server", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a saved model folder (save_pretrained) or a course model name")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--batch", action="store_true", help="gather concurrent requests into one generate call")
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--batch-wait-ms", type=float, default=30.0)
    parser.add_argument("--no-kv-cache", action="store_true", help="generate with use_cache=False")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log", type=Path, default=None, help="append one JSON line per request here")
    args = parser.parse_args(argv)

    import uvicorn

    from labkit import models
    from labkit.errors import LabkitError

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        tokenizer = models.load_tokenizer(args.model)
        model = models.load_model(args.model, dtype=args.dtype)
    except LabkitError as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 2
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    worker = Worker(model, tokenizer, batch=args.batch, max_batch=args.max_batch, wait_ms=args.batch_wait_ms,
                    use_cache=not args.no_kv_cache, log=args.log)
    uvicorn.run(build_app(worker, args.model), host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
