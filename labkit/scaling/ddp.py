"""The same LoRA fine-tune on one process or several, with accelerate's DDP (notebook 24).

Data parallelism gives every process a full copy of the model and a slice of each batch; after the
backward pass the gradients are averaged across processes (an all-reduce, over *gloo* on a CPU),
so every copy takes the same optimizer step. Two runs are then the same computation when

* they see the same **global** batches: here a seeded list of fixed-length token blocks, and rank
  ``r`` of ``n`` takes rows ``r::n`` of each (no padding, so every row weighs the same in the mean);
* the model, LoRA initialisation and optimizer start from the same seed on every rank.

The mean of the per-rank losses is then the global batch loss, and the averaged gradient is the
global gradient, up to floating-point summation order. :func:`launch` starts the processes with
``torch.distributed.run`` (what ``accelerate launch`` runs for several processes), each running
:func:`main`; ``accelerate.Accelerator`` finds the launcher's environment and picks gloo on a CPU.
A subprocess, rather than forking the notebook's kernel, is safe after torch has started threads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from labkit.errors import ResourceError


@dataclass
class DDPConfig:
    """One run's settings; every field is written to JSON and read back by each process."""

    model: str
    output: str  # the JSON file rank 0 writes its measurements to
    steps: int = 6
    global_batch: int = 4  # rows per optimizer step, over all processes together
    seq_len: int = 64  # tokens per row
    learning_rate: float = 1e-3
    lora_r: int = 8
    seed: int = 0
    bf16: bool = False  # bf16 autocast of the matmuls (weights, optimizer and loss stay fp32)
    threads_per_process: int = 1


def token_blocks(tokenizer, texts: list[str], seq_len: int) -> torch.Tensor:
    """The texts tokenized, joined with EOS and cut into rows of exactly ``seq_len`` tokens."""
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    rows = len(ids) // seq_len
    return torch.tensor(ids[: rows * seq_len]).view(rows, seq_len)


def global_batches(blocks: torch.Tensor, steps: int, global_batch: int, seed: int) -> list[torch.Tensor]:
    """``steps`` batches of ``global_batch`` rows drawn by a seeded shuffle: the same on every process."""
    generator, order, batches = torch.Generator().manual_seed(seed), torch.empty(0, dtype=torch.long), []
    for _ in range(steps):
        if len(order) < global_batch:
            order = torch.cat([order, torch.randperm(len(blocks), generator=generator)])
        batches.append(blocks[order[:global_batch]])
        order = order[global_batch:]
    return batches


def shard(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """This rank's rows of a global batch; equal shares are needed for the mean of means to be the mean."""
    if len(batch) % world_size:
        raise ValueError(f"a global batch of {len(batch)} rows does not split evenly over {world_size} processes")
    return batch[rank::world_size]


def train(config: DDPConfig, texts: list[str]) -> dict | None:
    """Run the LoRA fine-tune in this process as one rank of the launch; rank 0 returns (and saves) the record."""
    from accelerate import Accelerator
    from peft import LoraConfig, get_peft_model

    from labkit.memory import PeakMemory, release_freed_memory
    from labkit.models import load_model, load_tokenizer

    torch.set_num_threads(config.threads_per_process)
    accelerator = Accelerator(cpu=True, mixed_precision="bf16" if config.bf16 else "no")
    rank, world = accelerator.process_index, accelerator.num_processes
    tokenizer = load_tokenizer(config.model)
    batches = global_batches(token_blocks(tokenizer, texts, config.seq_len), config.steps, config.global_batch,
                             config.seed)
    release_freed_memory()
    before = PeakMemory.rss_mib()
    torch.manual_seed(config.seed)  # the same LoRA initialisation on every rank
    model = load_model(config.model)
    model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=2 * config.lora_r, lora_dropout=0.0,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.learning_rate)
    model, optimizer = accelerator.prepare(model, optimizer)
    model.train()
    loaded = PeakMemory.rss_mib() - before
    losses, rank_losses, step_times = [], [], []
    with PeakMemory() as memory:  # from here on, what training adds to the loaded model
        for batch in batches:
            start = time.perf_counter()
            rows = shard(batch, rank, world)
            loss = model(input_ids=rows, labels=rows).loss
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            per_rank = accelerator.gather(loss.detach().float().reshape(1))  # each rank's loss on its half
            rank_losses.append(per_rank.tolist())
            losses.append(per_rank.mean().item())  # = the loss on the whole global batch
            step_times.append(time.perf_counter() - start)
    peaks = accelerator.gather(torch.tensor([[loaded, memory.peak - before]])).tolist()
    if rank != 0:
        return None
    record = {"config": asdict(config), "processes": world, "backend": str(accelerator.state.backend),
              "losses": losses, "rank_losses": rank_losses, "step_s": step_times,
              "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
              "loaded_mib": [p[0] for p in peaks], "peak_mib": [p[1] for p in peaks], "tokens_per_step": config.global_batch * config.seq_len}
    Path(config.output).write_text(json.dumps(record, indent=1))
    return record


def launch(config: DDPConfig, texts: list[str], processes: int, timeout: float = 600) -> dict:
    """Start ``processes`` ranks of :func:`main` with ``torch.distributed.run`` and return rank 0's record.

    Wall time counts the whole launch (start-up, model loading on every rank, training); the
    record's ``step_s`` the training steps alone. A failed launch raises with the ranks' last output.
    """
    output = Path(config.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    spec = output.with_suffix(".spec.json")
    spec.write_text(json.dumps({"config": asdict(config), "texts": texts}))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
               "-m", "labkit.scaling.ddp", str(spec)]
    env = {**os.environ, "OMP_NUM_THREADS": str(config.threads_per_process), "TQDM_DISABLE": "1",
           "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if done.returncode != 0:
        raise ResourceError(f"the {processes}-process launch failed (exit {done.returncode})", " ".join(command),
                            "read the ranks' output: " + (done.stderr or done.stdout)[-1500:])
    record = json.loads(output.read_text())
    record["wall_s"] = time.perf_counter() - start
    return record


def main(argv: list[str] | None = None) -> None:
    """Entry point of each rank: ``python -m labkit.scaling.ddp SPEC.json`` (written by :func:`launch`)."""
    spec = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    train(DDPConfig(**spec["config"]), spec["texts"])


if __name__ == "__main__":
    main()
