"""``labkit bench``: labkit's training path against plain TRL, side by side, on this machine.

Each run trains the same model on the same data for the same number of optimizer steps with the
same seed, learning rate and LoRA rank, once with TRL's trainer called as a newcomer would call it
(``SFTConfig``/``DPOConfig`` defaults otherwise) and once through ``labkit.train.train_sft`` /
``labkit.alignment.dpo.train_dpo`` with labkit's defaults. Runs alternate (baseline, labkit, labkit,
baseline, ...) so that load from other jobs on a shared machine hits both sides alike, and each
run is a fresh process so its peak memory is its own.

For each run it measures real (non-padding) tokens per second, optimizer steps per second, peak
memory (RSS on CPU, ``max_memory_allocated`` on GPU), the final training loss and a held-out loss,
and the achieved FLOP/s as a fraction of a matmul peak measured in the same invocation:

* full fine-tuning: 6 x parameters FLOPs per token (forward 2N, backward 4N);
* LoRA: 4 x parameters per token: the forward (2N) and the backward through the frozen weights to
  the activations (2N); the frozen weights get no weight gradients, and the adapters' own FLOPs
  (under 2 % of N at rank 8) are not counted. The same count is applied to both sides, so the
  ratio is not affected by what is counted.

Attention-score FLOPs are not counted either (small at these lengths). Tokens are counted the
same way for both sides: a hook on the model's backbone adds up ``attention_mask`` (or, for a
padding-free batch, the packed length) on every forward pass that builds a gradient.

``python -m labkit.perf.bench --help`` lists the sizes; ``--out`` names the JSON record.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import torch

SIDES = ("baseline", "labkit")
PROMPTS = ["Write a paragraph that begins: \"{start}\"", "Continue this text: {start}",
           "Please write a short passage starting with the words \"{start}\"", "{start} ... go on."]
# Shapes of models whose weights are not on this machine: random weights from the config are enough
# to measure speed. Names follow the Hub models they copy.
SHAPES = {
    "smollm2-360m-shape": dict(hidden_size=960, intermediate_size=2560, num_hidden_layers=32,
                               num_attention_heads=15, num_key_value_heads=5),
    "qwen2.5-0.5b-shape": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                               num_attention_heads=14, num_key_value_heads=2),
}


@dataclass
class Spec:
    """One benchmark run: which method, which side, and the sizes shared by both sides."""

    method: str  # "sft" or "dpo"
    side: str  # "baseline" or "labkit"
    model: str
    steps: int
    batch: int
    n_examples: int
    n_heldout: int
    max_length: int
    lora_r: int  # 0: full fine-tuning
    learning_rate: float
    threads: int
    device: str
    seed: int = 42
    order: int = 0
    output_dir: str = ""
    labkit_overrides: dict = field(default_factory=dict)


# --- data ----------------------------------------------------------------------------------------

def _paragraphs(split: str) -> list[str]:
    from labkit.data import load_jsonl

    prose = [r["text"] for r in load_jsonl("prose.jsonl", "text") if r["split"] == split]
    if split == "train":
        prose += [r["text"] for r in load_jsonl("general_text.jsonl")] + [r["text"] for r in load_jsonl("veloria.jsonl")]
    return prose


def chat_examples(n: int, split: str = "train", seed: int = 0, low: int = 10, high: int = 140) -> list[dict]:
    """``n`` prompt/completion chat examples of ``low``-``high`` words, from the course's prose.

    Lengths are drawn uniformly, so batches mix short and long examples as real chat data does;
    the ``test`` split uses paragraphs the ``train`` split never sees.
    """
    rng, paragraphs = random.Random(seed), _paragraphs(split)
    words = " ".join(paragraphs).split()
    examples = []
    for _ in range(n):
        total = rng.randint(low, high)
        start_len = rng.randint(3, 6)
        start = rng.randrange(0, len(words) - high - start_len)
        prompt = rng.choice(PROMPTS).format(start=" ".join(words[start:start + start_len]))
        reply_len = max(3, total - len(prompt.split()))
        reply = " ".join(words[start + start_len:start + start_len + reply_len])
        examples.append({"prompt": [{"role": "user", "content": prompt}],
                         "completion": [{"role": "assistant", "content": reply}]})
    return examples


def preference_examples(n: int, split: str = "train") -> list[dict]:
    """The course's preference pairs (``labkit.alignment.preferences``) in TRL's conversational format."""
    from labkit.alignment import preferences

    records = preferences.load(split)
    return preferences.conversational((records * (n // len(records) + 1))[:n])


# --- machine -------------------------------------------------------------------------------------

def matmul_peak(device: str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048, reps: int = 5) -> float:
    """Best-of-``reps`` GFLOP/s of a ``size`` x ``size`` matmul: the yardstick for FLOP/s figures."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps + 1):  # the first call warms up
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(10 if device == "cuda" else 1):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - start) / (10 if device == "cuda" else 1))
    return 2 * size**3 / best / 1e9


def machine() -> dict:
    """What the figures were measured on."""
    import peft
    import transformers
    import trl

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
            "peft": peft.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# --- one run (in its own process) ----------------------------------------------------------------

def _load(spec: Spec):
    from labkit import models

    tokenizer = models.load_tokenizer(models.SMOLLM2)
    dtype = torch.float32
    if spec.model in SHAPES:
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=2048, tie_word_embeddings=True,
                             bos_token_id=1, eos_token_id=2, pad_token_id=tokenizer.pad_token_id, **SHAPES[spec.model])
        torch.manual_seed(0)
        model = LlamaForCausalLM(config).to(dtype)
    elif spec.model == models.TINY_LLAMA:
        model = models.tiny_llama(vocab_size=len(tokenizer))
    else:
        model = models.load_model(spec.model, dtype=dtype)
    return model.to(spec.device).train(), tokenizer


class TokenCounter:
    """Counts real tokens of every forward pass that builds a gradient (not reference or eval passes)."""

    def __init__(self, model):
        self.tokens = 0
        backbone = model.get_decoder() if hasattr(model, "get_decoder") else model.model
        self.handle = backbone.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module, args, kwargs):
        if not torch.is_grad_enabled():
            return
        mask = kwargs.get("attention_mask")
        ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else (args[0] if args else None)
        if isinstance(mask, torch.Tensor) and mask.dim() == 2:
            self.tokens += int(mask.sum())
        elif ids is not None:
            self.tokens += int(ids.numel())

    def close(self) -> int:
        self.handle.remove()
        return self.tokens


def _lora(spec: Spec):
    from peft import LoraConfig

    return LoraConfig(r=spec.lora_r, lora_alpha=2 * spec.lora_r, target_modules="all-linear",
                      task_type="CAUSAL_LM") if spec.lora_r else None


def _baseline(spec: Spec, model, tokenizer, dataset):
    """TRL as a newcomer calls it: the config's defaults, with only the shared sizes set."""
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    shared = dict(output_dir=spec.output_dir, max_steps=spec.steps, per_device_train_batch_size=spec.batch,
                  learning_rate=spec.learning_rate, seed=spec.seed, report_to="none", save_strategy="no",
                  max_length=spec.max_length)
    if spec.device == "cpu":  # TRL's default bf16=True stops on a CPU until use_cpu=True, as its error message says
        shared["use_cpu"] = True
    if spec.method == "sft":
        trainer = SFTTrainer(model=model, args=SFTConfig(**shared), train_dataset=dataset,
                             processing_class=tokenizer, peft_config=_lora(spec))
    else:
        trainer = DPOTrainer(model=model, args=DPOConfig(**shared), train_dataset=dataset,
                             processing_class=tokenizer, peft_config=_lora(spec))
    output = trainer.train()
    return trainer.model, output.training_loss


def _labkit(spec: Spec, model, tokenizer, dataset):
    """labkit's path with its defaults and the same shared sizes."""
    import labkit
    from labkit import train
    from labkit.alignment import dpo

    profile = replace(labkit.profile("gpu" if spec.device == "cuda" else "cpu"), max_length=spec.max_length)
    shared = dict(max_steps=spec.steps, per_device_train_batch_size=spec.batch, learning_rate=spec.learning_rate,
                  seed=spec.seed, save_strategy="no", resume=False, live_plot=False, **spec.labkit_overrides)
    lora = train.lora_config(profile, r=spec.lora_r, lora_alpha=2 * spec.lora_r) if spec.lora_r else False
    if spec.method == "sft":
        model, result = train.train_sft(model, tokenizer, dataset, profile, spec.output_dir, lora=lora, **shared)
    else:
        model, result = dpo.train_dpo(model, tokenizer, dataset, profile, spec.output_dir,
                                      peft_config=lora or None, **shared)
    return model, result.train_loss


def _completion_nll(model, tokenizer, examples: list[dict], device: str) -> float:
    """Mean negative log-likelihood per completion token: the held-out loss of an SFT run."""
    total, count = 0.0, 0
    for example in examples:
        prompt = tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
        ids = tokenizer(full, return_tensors="pt", add_special_tokens=False).input_ids.to(device)
        n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
        logits = model(input_ids=ids).logits[0, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits[n_prompt - 1:], ids[0, n_prompt:], reduction="sum")
        total, count = total + nll.item(), count + ids.shape[1] - n_prompt
    return total / count


def _sequence_logp(model, tokenizer, prompt: list, completion: list, device: str) -> float:
    text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False).input_ids
    reply = tokenizer(completion[0]["content"] + tokenizer.eos_token, add_special_tokens=False).input_ids
    full = torch.tensor([ids + reply], device=device)
    logp = model(input_ids=full).logits[0, :-1].float().log_softmax(-1)
    return logp[len(ids) - 1:].gather(1, full[0, len(ids):, None]).sum().item()


def _dpo_loss(model, tokenizer, pairs: list[dict], device: str, beta: float = 0.1) -> float:
    """Mean DPO loss on held-out pairs, the reference being the model with its adapter disabled."""
    losses = []
    for pair in pairs:
        policy = [_sequence_logp(model, tokenizer, pair["prompt"], pair[k], device) for k in ("chosen", "rejected")]
        with model.disable_adapter():
            ref = [_sequence_logp(model, tokenizer, pair["prompt"], pair[k], device) for k in ("chosen", "rejected")]
        margin = beta * ((policy[0] - ref[0]) - (policy[1] - ref[1]))
        losses.append(-torch.nn.functional.logsigmoid(torch.tensor(margin)).item())
    return sum(losses) / len(losses)


def _peak_memory_mb(device: str) -> float:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def run_one(spec: Spec) -> dict:
    """Train once as ``spec`` says and measure; meant to run in a fresh process."""
    import logging

    import transformers
    from labkit.data import to_dataset
    from labkit.models import parameter_count
    from labkit.seeding import set_seed

    torch.set_num_threads(spec.threads)
    warnings.filterwarnings("ignore")  # deprecation notices from the libraries would drown the table
    transformers.logging.set_verbosity_error()
    logging.getLogger("trl").setLevel(logging.ERROR)
    set_seed(spec.seed)
    model, tokenizer = _load(spec)
    if spec.method == "sft":
        train, heldout = chat_examples(spec.n_examples, "train"), chat_examples(spec.n_heldout, "test", seed=1)
    else:
        train, heldout = preference_examples(spec.n_examples, "train"), preference_examples(spec.n_heldout, "test")
    parameters = parameter_count(model)
    counter = TokenCounter(model)
    if spec.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start, cpu_start = time.perf_counter(), time.process_time()  # includes the trainer's set-up: tokenising, precomputed reference log-probs
    with contextlib.redirect_stdout(io.StringIO()):  # the trainers print every log line
        model, train_loss = (_baseline if spec.side == "baseline" else _labkit)(spec, model, tokenizer, to_dataset(train))
    if spec.device == "cuda":
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    tokens = counter.close()
    peak = _peak_memory_mb(spec.device)
    model.eval()
    with torch.no_grad():
        heldout_loss = (_completion_nll(model, tokenizer, heldout, spec.device) if spec.method == "sft"
                        else _dpo_loss(model, tokenizer, heldout, spec.device))
    flops_per_token = (4 if spec.lora_r else 6) * parameters
    return {"method": spec.method, "side": spec.side, "order": spec.order, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
            "tokens_per_cpu_s": tokens / cpu,
            "steps": spec.steps, "real_tokens": tokens, "tokens_per_s": tokens / wall, "steps_per_s": spec.steps / wall,
            "peak_memory_mb": round(peak, 1), "memory_kind": "max_memory_allocated" if spec.device == "cuda" else "peak RSS",
            "train_loss": train_loss, "heldout_loss": heldout_loss, "parameters": parameters,
            "flops_per_token": flops_per_token, "achieved_gflops": tokens * flops_per_token / wall / 1e9,
            "labkit_overrides": spec.labkit_overrides if spec.side == "labkit" else {}}


def _in_fresh_process(spec: Spec) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_one, spec).result()


# --- the whole benchmark -------------------------------------------------------------------------

def _order(rounds: int) -> list[str]:
    """baseline, labkit, labkit, baseline, baseline, labkit, ...: each side goes first equally often."""
    pattern = []
    for i in range(rounds):
        pattern += list(SIDES) if i % 2 == 0 else list(reversed(SIDES))
    return pattern


def _mean(rows: list[dict], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows)


TARGETS = {("sft", "cpu"): 1.3, ("dpo", "cpu"): 1.5, ("sft", "cuda"): 1.3, ("dpo", "cuda"): 1.3}
PEAK_TARGET = {"cpu": 0.60, "cuda": 0.40}


def summarise(runs: list[dict], peak_gflops: float, device: str, tolerance: float) -> dict:
    """Per method: each side's means, the ratios labkit/baseline, the share of the matmul peak."""
    summary = {}
    for method in sorted({r["method"] for r in runs}):
        sides = {side: [r for r in runs if r["method"] == method and r["side"] == side] for side in SIDES}
        means = {side: {k: _mean(rows, k) for k in ("tokens_per_s", "steps_per_s", "peak_memory_mb", "train_loss",
                                                     "heldout_loss", "achieved_gflops", "wall_s", "tokens_per_cpu_s")}
                 for side, rows in sides.items()}
        for side in SIDES:
            means[side]["peak_fraction"] = means[side]["achieved_gflops"] / peak_gflops
        base, lab = means["baseline"], means["labkit"]
        ratio = {k: lab[k] / base[k] for k in ("tokens_per_s", "steps_per_s", "peak_memory_mb", "tokens_per_cpu_s")}
        target = TARGETS[(method, device)]
        delta = lab["heldout_loss"] - base["heldout_loss"]
        summary[method] = {**means, "ratio": ratio, "heldout_loss_delta": delta,
                           "heldout_tolerance": tolerance, "heldout_within_tolerance": delta <= tolerance,
                           "target_tokens_ratio": target, "target_tokens_ratio_met": ratio["tokens_per_s"] >= target,
                           "target_peak_fraction": PEAK_TARGET[device],
                           "target_peak_fraction_met": lab["peak_fraction"] >= PEAK_TARGET[device]}
    return summary


def run(methods: list[str], spec: Spec, rounds: int = 2, tolerance: float = 0.05, in_process: bool = False,
        log=print) -> dict:
    """Alternate baseline and labkit runs of each method and return the record (also what is printed)."""
    torch.set_num_threads(spec.threads)
    record = {"command": " ".join(["labkit bench"] + sys.argv[1:]) if sys.argv else "labkit bench",
              "machine": machine(), "threads": spec.threads, "load_average_before": os.getloadavg(),
              "settings": {k: v for k, v in asdict(spec).items() if k not in {"method", "side", "order", "output_dir"}}}
    dtype = torch.float32 if spec.device == "cpu" else torch.bfloat16  # the yardstick the targets name
    peaks = [matmul_peak(spec.device, dtype)]
    if spec.device == "cpu":  # what bf16 autocast can reach; without bf16 matmul instructions torch emulates
        # bf16 at ~1 GFLOP/s, and a 2048^3 product would take minutes: a small one says as much
        from labkit.train import cpu_has_bf16

        record["matmul_peak_bf16_gflops"] = matmul_peak(spec.device, torch.bfloat16,
                                                        **({} if cpu_has_bf16() else {"size": 256, "reps": 2}))
        record["cpu_has_bf16_matmul"] = cpu_has_bf16()
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for method in methods:
            for order, side in enumerate(_order(rounds)):
                one = replace(spec, method=method, side=side, order=order,
                              output_dir=str(Path(scratch) / f"{method}-{side}-{order}"))
                log(f"  {method} {side:<8} run {order + 1}/{2 * rounds} ...", end="", flush=True)
                runs.append(run_one(one) if in_process else _in_fresh_process(one))
                log(f" {runs[-1]['tokens_per_s']:7.1f} real tokens/s, {runs[-1]['wall_s']:.0f} s")
    peaks.append(matmul_peak(spec.device, dtype))
    record.update(load_average_after=os.getloadavg(), matmul_peak_gflops={"dtype": str(dtype), "best": max(peaks),
                                                                          "start_and_end": peaks},
                  flops_counted=("4 x parameters per real token (LoRA: forward 2N + backward to activations 2N; "
                                 "adapter FLOPs and attention scores not counted)") if spec.lora_r else
                  "6 x parameters per real token (attention scores not counted)",
                  runs=runs, summary=summarise(runs, max(peaks), spec.device, tolerance))
    record["gpu"] = "measured" if spec.device == "cuda" else ("not measured: no GPU" if not torch.cuda.is_available()
                                                              else "not measured: run with --device cuda")
    return record


def table(record: dict) -> str:
    """The summary as a readable table."""
    lines = [f"{'method':<6} {'side':<9} {'tokens/s':>9} {'steps/s':>8} {'peak MB':>8} {'train loss':>10} "
             f"{'held-out':>9} {'GFLOP/s':>8} {'of peak':>8}"]
    for method, s in record["summary"].items():
        for side in SIDES:
            m = s[side]
            lines.append(f"{method:<6} {side:<9} {m['tokens_per_s']:9.1f} {m['steps_per_s']:8.3f} "
                         f"{m['peak_memory_mb']:8.0f} {m['train_loss']:10.3f} {m['heldout_loss']:9.3f} "
                         f"{m['achieved_gflops']:8.1f} {m['peak_fraction']:8.1%}")
        r = s["ratio"]
        lines.append(f"{method:<6} {'ratio':<9} {r['tokens_per_s']:8.2f}x {r['steps_per_s']:7.2f}x "
                     f"{r['peak_memory_mb']:7.2f}x   (per CPU-second {r['tokens_per_cpu_s']:.2f}x) held-out delta {s['heldout_loss_delta']:+.3f} "
                     f"(tolerance {s['heldout_tolerance']}); target {s['target_tokens_ratio']}x "
                     f"{'met' if s['target_tokens_ratio_met'] else 'MISSED'}; peak target "
                     f"{s['target_peak_fraction']:.0%} {'met' if s['target_peak_fraction_met'] else 'MISSED'}")
    peak = record["matmul_peak_gflops"]
    lines.append(f"matmul peak ({peak['dtype']}, best of start/end): {peak['best']:.1f} GFLOP/s; "
                 f"threads {record['threads']}; load average before {record['load_average_before'][0]:.2f}, "
                 f"after {record['load_average_after'][0]:.2f}; GPU: {record['gpu']}")
    return "\n".join(lines)


def plot(record: dict, path: str | Path) -> Path:
    """A bar chart of real tokens per second by method and side, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from labkit.plots import bar_compare

    values = {f"{method} {side}": s[side]["tokens_per_s"] for method, s in record["summary"].items() for side in SIDES}
    ax = bar_compare(values, "real tokens / s", title=f"{record['settings']['model']}, {record['threads']} threads, "
                                                      f"{record['settings']['device']}")
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    return Path(path)


def _overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        out[key] = json.loads(value) if value[:1] in "0123456789-[{tfn\"" else value
    return out


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="labkit bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="sft,dpo", help="comma-separated: sft, dpo (default both)")
    parser.add_argument("--model", default="smollm2-135m-instruct",
                        help=f"a course model name, or a random-weight shape: {', '.join(SHAPES)}")
    parser.add_argument("--steps", type=int, default=6, help="optimizer steps per run")
    parser.add_argument("--batch", type=int, default=8, help="examples (DPO: pairs) per step")
    parser.add_argument("--n-examples", type=int, default=None,
                        help="training examples (default steps x batch: one epoch, as a lesson trains; labkit's "
                             "DPO scores the reference once per example, so a data set larger than the run costs it)")
    parser.add_argument("--n-heldout", type=int, default=12, help="held-out examples for the held-out loss")
    parser.add_argument("--max-length", type=int, default=256, help="tokens per sequence (longer ones are cut)")
    parser.add_argument("--lora-r", type=int, default=8, help="LoRA rank on all linear layers; 0 = full fine-tune")
    parser.add_argument("--learning-rate", type=float, default=2e-4, help="the same on both sides")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (baseline, labkit) runs, order alternating")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="held-out loss labkit may exceed the baseline by (nats) and still pass")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override a field of labkit's config, e.g. --set packing=false")
    parser.add_argument("--in-process", action="store_true",
                        help="run everything in this process (quicker; peak memory is then the whole process's)")
    parser.add_argument("--out", default="bench.json", help="where to write the JSON record")
    parser.add_argument("--plot", default=None, help="also save a bar chart of tokens/s here (PNG)")
    return parser


def main(args: argparse.Namespace) -> int:
    spec = Spec(method="", side="", model=args.model, steps=args.steps, batch=args.batch,
                n_examples=args.n_examples or args.steps * args.batch,
                n_heldout=args.n_heldout, max_length=args.max_length, lora_r=args.lora_r,
                learning_rate=args.learning_rate, threads=args.threads, device=args.device,
                labkit_overrides=_overrides(args.set))
    print(f"labkit bench: {args.methods} on {args.model}, {args.steps} steps x batch {args.batch}, "
          f"{args.threads} threads, {args.device}")
    record = run(args.methods.split(","), spec, rounds=args.rounds, tolerance=args.tolerance,
                 in_process=args.in_process)
    print(table(record))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=1, default=str))
    print(f"record written to {args.out}")
    if args.plot:
        print(f"plot written to {plot(record, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
