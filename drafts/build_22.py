"""Draft of notebooks/22_deployment.ipynb: run `python drafts/build_22.py`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 22 · Stage 6: deployment

**Goal.** Take a fine-tuned model out of the notebook and put it behind an HTTP endpoint, as the
survey's deployment stage describes (arXiv 2408.13296, §8): **merge** the LoRA adapter into the
weights, **export** them as safetensors, **quantise** to int8, **serve** the merged model with an
OpenAI-compatible `POST /v1/chat/completions` on localhost, and **measure** latency (p50, p95) and
throughput (requests/s, tokens/s) at 1, 2 and 4 concurrent clients, with and without server-side
**batching** and with and without the **KV cache**.

Checked on the way: the server's replies equal in-process greedy generation, alone and batched.
The server is `labkit.serving.server` (FastAPI + uvicorn), started as a real subprocess and
stopped at the end. On the `gpu` profile the same measurements are where vLLM or Hugging Face TGI
(continuous batching, paged KV cache) take over; neither is installed here, and `transformers serve`
offers the same API but no switch for batching or the cache, so we use our own small server.
"""),
("code", COLAB_SETUP),
("md", "## Set-up and profile"),
("code", """
# NBVAL_CHECK_OUTPUT
import json
import time

import pandas as pd

import labkit
from labkit import data, evaluate, exercises, models, train
from labkit.serving import client, export
from labkit.tuning import compress

profile = labkit.profile()
labkit.set_seed(0)
profile
"""),
("md", """
## The model to ship: a small LoRA fine-tune
The same task as notebook 02: facts about the invented island Veloria (`data/veloria_questions.jsonl`),
LoRA on the training questions, checked on held-out paraphrases. Here the training is only the way to
get an adapter worth deploying, so it is short.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
questions = data.load_jsonl("veloria_questions.jsonl", schema="qa")
facts = list(dict.fromkeys(row["fact"] for row in questions))[::profile.pick(ci=4, cpu=2, gpu=1)]
split = data.split([row for row in questions if row["fact"] in facts])
train_qa, test_qa = split["train"], split["test"]
test_questions, gold = [r["question"] for r in test_qa], [r["answer"] for r in test_qa]
print(f"{len(facts)} facts: {len(train_qa)} training questions, {len(test_qa)} held-out paraphrases")
"""),
("code", """
tokenizer = models.load_tokenizer(profile.lm)
base = models.load_model(profile.lm, dtype=profile.dtype, device=profile.device)
tuned, result = train.train_sft(base, tokenizer, data.to_dataset(data.qa_to_chat(train_qa)), profile,
                                train.run_dir("22_deployment"), max_steps=profile.pick(ci=8, cpu=20, gpu=60),
                                learning_rate=2e-3)
tuned_replies = evaluate.generate(tuned, tokenizer, test_questions, max_new_tokens=24)
print(f"{result.steps} steps in {result.runtime_s:.0f} s; held-out exact-match {evaluate.match_rate(tuned_replies, gold):.0%}")
"""),
("md", """
## Export: merge the adapter, save safetensors
A served LoRA model can keep the adapter separate (one base, many adapters: vLLM and TGI both do
this) or **merge** it: `merge_and_unload()` adds the low-rank product `BA` into each frozen matrix,
so the result is an ordinary model with no extra matmuls and no peft at serving time.
`save_pretrained` writes it as safetensors, the format a server loads without running pickled code.
"""),
("code", """
export_dir = train.run_dir("22_deployment") / "export"
adapter_dir, merged_dir = export_dir / "adapter", export_dir / "merged"
tuned.save_pretrained(adapter_dir)
merged = export.merge_and_save(tuned, tokenizer, merged_dir)
sizes = {"LoRA adapter only": export.folder_bytes(adapter_dir, "*.safetensors"),
         "merged model": export.folder_bytes(merged_dir, "*.safetensors")}
for name, size in sizes.items():
    print(f"{name:<20} {size / 2**20:8.1f} MiB")
merged_replies = evaluate.generate(merged, tokenizer, test_questions, max_new_tokens=24)
print(f"merged replies equal the adapter model's: {sum(a == b for a, b in zip(merged_replies, tuned_replies))}/{len(test_questions)}")
"""),
("code", """
assert sizes["LoRA adapter only"] < 0.1 * sizes["merged model"], "an adapter should be a small fraction of the model"
assert sum(a == b for a, b in zip(merged_replies, tuned_replies)) >= 0.75 * len(test_questions), \\
    "merging changes only float rounding: greedy replies should (nearly) all stay the same"
"""),
("md", """
## Quantise: int8 weights
Dynamic int8 as in notebook 16 (`labkit.tuning.compress.quantize_int8`, torchao): decoder weights
stored as int8 with one scale per output channel, `down_proj` kept in fp32 for its outlier inputs.
We compare the saved size and how many greedy replies stay the same.

**GGUF**, the format of llama.cpp and Ollama, is the other common export. labkit reads SmolLM2 *from*
a GGUF file (`labkit.models`). The installed `gguf` package can write the container
(`gguf.GGUFWriter`), but the tensor-name mapping, tokenizer metadata and block quantisation are the
work of llama.cpp's `convert_hf_to_gguf.py`, which is not installed here; this notebook stops at
safetensors and int8 (exercise for the keen: export, re-load with `gguf_file=`, compare greedy replies).
"""),
("code", """
int8 = compress.quantize_int8(merged, skip=("down_proj",))
int8_size, merged_size = compress.serialized_size(int8), compress.serialized_size(merged)
int8_replies = evaluate.generate(int8, tokenizer, test_questions, max_new_tokens=24)
same = sum(a == b for a, b in zip(int8_replies, merged_replies))
print(f"saved size: {profile.dtype} {merged_size / 2**20:.1f} MiB, int8 {int8_size / 2**20:.1f} MiB (x{int8_size / merged_size:.2f})")
print(f"int8 greedy replies equal {profile.dtype}'s: {same}/{len(test_questions)}; "
      f"exact-match {evaluate.match_rate(int8_replies, gold):.0%} vs {evaluate.match_rate(merged_replies, gold):.0%}")
"""),
("code", """
assert int8_size < 0.75 * merged_size, f"int8 weights should shrink the model clearly, got x{int8_size / merged_size:.2f}"
"""),
("md", """
## Serve: an OpenAI-compatible endpoint on localhost
`client.serve(path, ...)` starts `python -m labkit.serving.server --model PATH --port P` on a free
port, polls `GET /health` until the model is loaded, and stops the process when the `with` block
ends, even on an error. The request and reply have OpenAI's shape, so any OpenAI client could talk to
it; we use the standard library (`urllib`). First the reference: in-process greedy replies, one
prompt at a time.
"""),
("code", """
MAX_TOKENS = profile.pick(ci=16, cpu=32, gpu=64)
prompts = test_questions[:profile.pick(ci=4, cpu=8, gpu=8)]
reference = [evaluate.generate(merged, tokenizer, [p], max_new_tokens=MAX_TOKENS, batch_size=1)[0] for p in prompts]
traffic_log = export_dir / "traffic.jsonl"
traffic_log.unlink(missing_ok=True)
with client.serve(merged_dir, dtype=profile.dtype, log=traffic_log) as server:
    answer = client.chat(server.url, prompts[0], max_tokens=MAX_TOKENS)
    served_alone = [client.reply_text(client.chat(server.url, p, max_tokens=MAX_TOKENS)) for p in prompts]
print(json.dumps(answer, indent=1)[:600])
"""),
("md", """
**Batched.** With `--batch`, the server's worker takes the first waiting request, gathers the others
that arrive within a few milliseconds, left-pads the prompts to one length and generates them in a
single call. The attention mask hides the padding and generation computes each row's positions from
that mask, so a greedy reply should not depend on its neighbours.
"""),
("code", """
with client.serve(merged_dir, batch=True, dtype=profile.dtype, log=traffic_log) as server:
    client.chat(server.url, "Hello", max_tokens=4)  # warm-up
    served_batched = client.load_test(server.url, prompts, concurrency=len(prompts), max_tokens=MAX_TOKENS)
print(f"mean batch size {served_batched['mean_batch']:.1f}")
pd.DataFrame({"question": prompts, "in-process": reference, "served alone": served_alone,
              "served batched": served_batched["replies"]})
"""),
("code", """
assert served_alone == reference, "the server's replies must equal in-process greedy generation"
assert served_batched["replies"] == reference, "left-padded batches must not change greedy replies"
assert served_batched["mean_batch"] > 1.5, "concurrent requests should have shared a batch"
print(f"{len(prompts)} prompts: served alone and batched both equal the in-process replies")
"""),
("md", """
## Measure: latency and throughput
A closed-loop benchmark: `c` client threads each send the next request as soon as the last is
answered. **Latency** is one request's wall time (p50, p95); **throughput** is requests or generated
tokens per second over the whole run. We run it at 1 and 4 clients (`cpu`: 1, 2, 4, 8) against an unbatched and a
batched server. Every request asks for exactly `MAX_TOKENS` tokens (`ignore_eos`, an extension vLLM's
benchmarks use too): the tuned model's own answers are a few tokens long, and a benchmark that mostly
times prompt processing would say little about generation. The machine's other work shows in the
absolute numbers; the comparisons are what to read.
"""),
("code", """
levels = profile.pick(ci=[1, 4], cpu=[1, 2, 4, 8], gpu=[1, 2, 4, 8])
requests = profile.pick(ci=8, cpu=16, gpu=32)
bench_prompts = (test_questions * requests)[:requests]
rows = []
for batch in (False, True):
    with client.serve(merged_dir, batch=batch, dtype=profile.dtype) as server:
        client.chat(server.url, "Hello", max_tokens=4)  # warm-up
        for c in levels:
            r = client.load_test(server.url, bench_prompts, concurrency=c, max_tokens=MAX_TOKENS, ignore_eos=True)
            rows.append({"batching": batch, **{k: v for k, v in r.items() if k != "replies"}})
bench = pd.DataFrame(rows)
bench.round(3)
"""),
("md", """
**The KV cache.** Generation without a cache feeds the whole sequence through the model again for
every new token; with it, each step only processes the one new token and reads the stored keys and
values of the rest. The cost of going without grows with the length of the sequence, so we use long
prompts: a Veloria article to summarise.
"""),
("code", """
articles = data.load_jsonl("veloria.jsonl", schema={"title": str, "text": str})
long_prompts = [f"Summarise in one sentence:\\n{a['text']}" for a in articles[:profile.pick(ci=2, cpu=4, gpu=8)]]
cache_rows = []
for kv_cache in (True, False):
    with client.serve(merged_dir, kv_cache=kv_cache, dtype=profile.dtype) as server:
        r = client.load_test(server.url, long_prompts, concurrency=1, max_tokens=MAX_TOKENS, ignore_eos=True)
        cache_rows.append({"kv_cache": kv_cache, **{k: v for k, v in r.items() if k != "replies"}})
cache = pd.DataFrame(cache_rows)
print(f"prompt length: {min(len(tokenizer(p).input_ids) for p in long_prompts)} tokens or more")
cache.round(3)
"""),
("md", "## The measured effects"),
("code", """
at = lambda batching, c: bench[(bench.batching == batching) & (bench.concurrency == c)].iloc[0]
top = max(levels)
gain = at(True, top).requests_per_s / at(False, top).requests_per_s
slowdown = cache.set_index("kv_cache").tokens_per_s[True] / cache.set_index("kv_cache").tokens_per_s[False]
print(f"batching at {top} clients: {at(False, top).requests_per_s:.2f} -> {at(True, top).requests_per_s:.2f} requests/s (x{gain:.2f})")
print(f"batching at 1 client: {at(False, 1).requests_per_s:.2f} vs {at(True, 1).requests_per_s:.2f} requests/s")
print(f"KV cache: {slowdown:.1f}x more tokens/s with it than without")
assert gain > 1.3, f"batching should raise throughput at {top} concurrent clients, got x{gain:.2f}"
assert slowdown > 1.5, f"generation without the KV cache should be clearly slower per token, got x{slowdown:.2f}"
"""),
("code", """
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for batch, group in bench.groupby("batching"):
    label = "batched" if batch else "one at a time"
    axes[0].plot(group.concurrency, group.requests_per_s, "o-", label=label)
    axes[1].plot(group.concurrency, group.p50_s, "o-", label=f"{label} p50")
    axes[1].plot(group.concurrency, group.p95_s, "x--", label=f"{label} p95")
axes[0].set(xlabel="concurrent clients", ylabel="requests / s", title="throughput")
axes[1].set(xlabel="concurrent clients", ylabel="seconds", title="latency")
axes[2].bar(["KV cache", "no cache"], cache.tokens_per_s, color=["tab:green", "tab:red"])
axes[2].set(ylabel="generated tokens / s", title="long prompts, 1 client")
for ax in axes[:2]:
    ax.legend(fontsize=8)
plt.tight_layout()
"""),
("md", """
## Reading the numbers
* **Batching trades latency for throughput.** One generate call for several requests reads each
  weight matrix once per step for all of them, so requests per second rise with the number of
  clients; each request now waits for its batch (and for the gathering window), so with one client
  batching brings nothing and p50 latency does not fall. GPU servers (vLLM, TGI) push this further
  with *continuous batching*: a finished request leaves the batch and a new one joins at the next step.
* **The KV cache** turns the per-token cost from the whole sequence into one token; without it the
  cost of every step grows with the prompt. vLLM's *PagedAttention* exists to fit more of these
  caches into GPU memory at once.
* **Merging and int8** change what is shipped: one file set, no peft, and a smaller int8 copy whose
  replies mostly, not always, match.

The server wrote every request of the first two runs to a **traffic log** (`traffic.jsonl`, one
JSON line per request: time, prompt, reply, latency, token counts, batch size). Notebook 23 monitors
logs of this shape.
"""),
("code", """
# NBVAL_CHECK_OUTPUT
log_rows = [json.loads(line) for line in traffic_log.read_text().splitlines()]
print(f"{len(log_rows)} logged requests; fields: {', '.join(log_rows[0])}")
"""),
("md", """
## Exercises
**1. Batch sizes from the log.** From `log_rows`, compute the largest `batch_size` any logged request
was generated in.
"""),
("code", """
largest_batch = None  # TODO: your code here, using the "batch_size" field of log_rows
exercises.check(largest_batch, max(row["batch_size"] for row in log_rows),
                hint="max(row['batch_size'] for row in log_rows)")
"""),
("md", """
**2. Tail latency.** Compute the 95th percentile of `latency_s` over the logged requests (server-side
latency, queueing included) with `numpy.percentile`. Is it above or below the client-side p95 in `bench`,
and why might the two differ?
"""),
("code", """
import numpy as np

server_p95 = None  # TODO: your code here
exercises.check(server_p95, float(np.percentile([row["latency_s"] for row in log_rows], 95)),
                hint="np.percentile([row['latency_s'] for row in log_rows], 95)")
"""),
("md", """
## Summary
* A LoRA fine-tune ships as a **merged** model: `merge_and_unload()` then `save_pretrained` gives
  plain safetensors that any server loads; int8 weights shrink it further at a small cost in replies.
* A **real HTTP server** with OpenAI's chat API answers exactly what the model answers in-process,
  alone or in a left-padded batch.
* **Batching** raises throughput under concurrent load; the **KV cache** makes each new token cheap.
  On a GPU, vLLM and TGI are the production versions of both ideas.

Next: **23 · Stage 7: monitoring**, reading traffic logs like this one to catch drift.
"""),
]

build(cells, Path(__file__).resolve().parents[1] / "notebooks" / "22_deployment.ipynb")
