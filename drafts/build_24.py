"""Drafting script of notebooks/24_platforms_scaling.ipynb (tools/nbbuild.py).

Run `python drafts/build_24.py` to (re)write notebooks/24_platforms_scaling.ipynb without outputs;
then `tools/store_outputs.py` stores a real run's outputs. Once the notebook is edited by hand,
the notebook is its own source.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from nbbuild import COLAB_SETUP, build  # noqa: E402

cells = [
("md", """
# 24 · Platforms and scaling

**Goal.** The survey (arXiv 2408.13296, §10 and §12.1) lists the platforms that take a fine-tune
from one GPU to many machines (accelerate, DeepSpeed, FSDP, Ray, cloud clusters) and names
scalability as an open problem: a model that does not fit, or a run that takes too long. Here we:

1. run **the same LoRA fine-tune of SmolLM2 on one process and on two**, with accelerate's
   data parallelism (DDP over *gloo*, on this CPU), and check that equal global batches give the
   same loss curve; we measure throughput and wall time of both, and read why two processes on two
   cores are, or are not, faster than one;
2. **estimate the memory** of a fine-tune (weights, gradients, optimizer state, activations, by
   precision and ZeRO stage), check the estimate against the measured peak of these runs, and
   table which fine-tunes fit on a T4, an L4, an A100 and an H100;
3. validate **FSDP, DeepSpeed ZeRO-2/3 and multi-machine** accelerate configs for GPUs we do not
   have here, and say where a run goes past one machine.
"""),
("code", COLAB_SETUP),
("code", """
# NBVAL_CHECK_OUTPUT
import os
import shutil
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt

import labkit
from labkit import data, exercises, models, train
from labkit.scaling import accelerate_configs, ddp, memory_estimate
from labkit.scaling.memory_estimate import ModelShape, estimate, fits

profile = labkit.profile()
labkit.set_seed(0)
run = train.run_dir("24_platforms_scaling")
shutil.rmtree(run, ignore_errors=True)
run.mkdir(parents=True)
profile
"""),
("md", """
## One run, two ways to launch it
The run is a plain PyTorch loop wrapped in `accelerate.Accelerator` (`labkit/scaling/ddp.py`):
LoRA (rank 8, all linear layers) on SmolLM2, AdamW, next-token loss on fixed-length blocks of
`data/prose.jsonl`. `ddp.launch` starts it with `torch.distributed.run`, the launcher that
`accelerate launch` uses for several processes; inside, `Accelerator` reads the launcher's
environment and, on a CPU, joins the processes over **gloo**. Launching a subprocess rather than
forking this kernel is safe after torch has started its threads.

For the two runs to be *the same computation*, every step uses the same **global batch** (a
seeded draw of blocks); with two processes rank *r* takes rows *r*, *r*+2, ... DDP averages the
gradients, so both runs take the same optimizer step; the loss we log is the mean over ranks,
which, with equal-length rows, is the loss on the whole global batch. Each process computes with
one thread, so one process uses one core and two use two: as on GPUs, where each process brings
its own device, data parallelism adds hardware.
"""),
("code", """
texts = [row["text"] for row in data.load_jsonl("prose.jsonl")]
bf16 = train.cpu_has_bf16() or profile.dtype != "float32"  # bf16 autocast where the CPU multiplies bf16
base = ddp.DDPConfig(model=profile.lm, output="", steps=profile.pick(ci=5, cpu=20, gpu=20),
                     global_batch=profile.pick(ci=4, cpu=8, gpu=8), seq_len=profile.pick(ci=48, cpu=128, gpu=128),
                     learning_rate=1e-3, lora_r=8, seed=labkit.seeding.shifted(0), bf16=bf16)
print(f"{base.steps} steps of {base.global_batch} x {base.seq_len} tokens, bf16 autocast {bf16}")
"""),
("md", """
## Baseline: one process
"""),
("code", """
one = ddp.launch(replace(base, output=str(run / "one.json")), texts, processes=1)
print(f"1 process: losses {[round(x, 3) for x in one['losses']]}")
print(f"wall {one['wall_s']:.1f} s, training steps {sum(one['step_s']):.1f} s, "
      f"{one['trainable_parameters']:,} trainable parameters")
"""),
("md", """
## The same run on two processes
"""),
("code", """
two = ddp.launch(replace(base, output=str(run / "two.json")), texts, processes=2)
print(f"2 processes over {two['backend']}: losses {[round(x, 3) for x in two['losses']]}")
print(f"wall {two['wall_s']:.1f} s, training steps {sum(two['step_s']):.1f} s")
"""),
("md", """
## The measured effect: the same curve
Each rank's own loss is on *its half* of the batch and differs from the 1-process loss; their mean
must match it. The tolerance allows for bf16 autocast, where a matmul over 2 rows rounds
differently from one over 4; in fp32 the curves agree to about 1e-5.
"""),
("code", """
tolerance = 0.02 if bf16 else 1e-3
gap = max(abs(a - b) for a, b in zip(one["losses"], two["losses"]))
half_gap = max(abs(a - r[0]) for a, r in zip(one["losses"], two["rank_losses"]))
print(f"largest gap, 1 process vs mean of 2 ranks: {gap:.2e} (tolerance {tolerance})")
print(f"largest gap, 1 process vs rank 0 alone:    {half_gap:.3f}")
for step, (a, b, r) in enumerate(zip(one["losses"], two["losses"], two["rank_losses"]), 1):
    print(f"step {step:2}: 1 proc {a:.4f}   2 procs {b:.4f}   (ranks {r[0]:.3f}, {r[1]:.3f})")
"""),
("code", """
print(f"1 vs 2 processes: largest loss gap {gap:.1e} (tolerance {tolerance}), rank 0 alone {half_gap:.3f}")
assert gap < tolerance, f"1- and 2-process losses differ by {gap:.4f}"
assert half_gap > 3 * tolerance, f"one rank's half-batch loss should differ from the global loss: {half_gap:.4f}"
"""),
("md", """
## Throughput and wall time
Tokens per second count the training steps only; wall time counts everything a launch does:
starting Python and torch in each process, loading the model in each, joining the gloo group.
"""),
("code", """
rows = {}
for name, record in (("1 process", one), ("2 processes", two)):
    steps = record["step_s"][1:]  # the first step also warms up
    rows[name] = record["tokens_per_step"] * len(steps) / sum(steps)
    print(f"{name:12} {rows[name]:7.0f} tokens/s in training steps, wall {record['wall_s']:5.1f} s, "
          f"memory per process {max(record['peak_mib']):6.0f} MiB")
speedup = rows["2 processes"] / rows["1 process"]
print(f"2 processes / 1 process throughput: {speedup:.2f}x")
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(range(1, base.steps + 1), one["losses"], "o-", label="1 process")
ax1.plot(range(1, base.steps + 1), two["losses"], "x--", label="2 processes (mean of ranks)")
ax1.set(xlabel="step", ylabel="loss", title="Same global batches, same curve"), ax1.legend()
ax2.bar(list(rows), list(rows.values()), color=["tab:blue", "tab:orange"])
ax2.set(ylabel="tokens / s", title="Training throughput, one thread per process")
plt.tight_layout()
"""),
("md", """
**Why two processes on two cores can be faster, but not twice as fast.** Data parallelism adds
*hardware*: the second process computes half of every batch on the second core, so at best the
throughput doubles. What eats into that: each process starts Python and loads its own copy of the
model (memory per process above, so twice the RAM in all, and a longer wall time before the first
step); after every backward pass the gradients are all-reduced (cheap here, only the LoRA weights
train, but a full fine-tune all-reduces every weight); a batch of 2 rows uses a core less well
than one of 4; and on a 2-core machine anything else running takes a core from one of the two
processes, and the other waits for it at every all-reduce. The speed-up printed above is what
this machine made of it. One process could instead use both cores as threads (try
`threads_per_process=2`), which is how a CPU is usually shared; on GPUs that choice does not
exist, and N GPUs give nearly N times the throughput as long as the all-reduce (fast on NVLink,
slow over Ethernet) stays small against a step.
"""),
("md", """
## How much memory does a fine-tune need?
`labkit.scaling.memory_estimate` adds up the four terms of every sizing guide: **weights** in
their precision; **gradients** and **Adam's two moments** in fp32 for every *trainable* parameter
(plus an fp32 master copy when the weights are half precision); **activations** per token, what
autograd keeps for backward, counted per block from the hidden and MLP sizes, plus the logits over
the vocabulary, whose backward needs a few vocabulary-sized tensors at once. Under autocast the
forward also keeps a bf16 copy of each weight it used. ZeRO stage 1 shards the optimizer state
over the processes, stage 2 also the gradients, stage 3 also the weights.

We check it against both runs: their measured memory per process is the rise of the resident set
size (RSS, `labkit.memory.PeakMemory`) from before loading the model to the peak of training.
The RSS also holds what no estimate counts (the allocator's slack, PyTorch's workspaces), so we
state the error the estimate must stay within: **40 %**.
"""),
("code", """
lm = models.load_model(profile.lm)
shape = ModelShape.of(lm.config, models.parameter_count(lm))
del lm
checks = {}
for name, record in (("1 process", one), ("2 processes", two)):
    tokens = base.global_batch // record["processes"] * base.seq_len  # each process's micro-batch
    guess = estimate(shape, record["trainable_parameters"], tokens, autocast_dtype="bfloat16" if bf16 else None)
    measured = max(record["peak_mib"])
    checks[name] = (guess.total - measured) / measured
    print(f"{name:12} estimate {guess.total:6.0f} MiB (weights {guess.weights:.0f}, gradients {guess.gradients:.1f}, "
          f"Adam {guess.optimizer:.1f}, activations {guess.activations:.0f})  measured {measured:6.0f} MiB  "
          f"error {checks[name]:+.0%}")
"""),
("code", """
assert all(abs(error) < 0.40 for error in checks.values()), f"estimate off by more than 40 %: {checks}"
"""),
("md", """
## What fits where
The same estimator for larger models on GPUs, at micro-batches of 4 sequences of 512 tokens per GPU with bf16
autocast (a T4 has no bf16; fp16 costs the same bytes). A full fine-tune trains every parameter,
LoRA about 1 % of them (rank 16 on all linear layers of these models), QLoRA the same on 4-bit
weights. ZeRO-3 shards a full fine-tune over 8 GPUs. The shapes come from the models' config files
on the Hub; a fit leaves 10 % of the card free for the CUDA context and fragmentation.
"""),
("code", """
SHAPES = {  # parameters, layers, hidden, MLP, vocabulary (from each model's config.json)
    "SmolLM2-360M": ModelShape(362_000_000, 32, 960, 2560, 49152),
    "SmolLM2-1.7B": ModelShape(1_711_000_000, 24, 2048, 8192, 49152),
    "Llama-3.1-8B": ModelShape(8_030_000_000, 32, 4096, 14336, 128256),
}
tokens = 4 * 512  # one micro-batch per GPU; gradient accumulation makes the global batch
setups = {"full, bf16": dict(weight_dtype="bfloat16", lora=False),
          "full, ZeRO-3 x8": dict(weight_dtype="bfloat16", lora=False, zero_stage=3, world_size=8),
          "LoRA, bf16": dict(weight_dtype="bfloat16", lora=True),
          "QLoRA, 4-bit": dict(weight_dtype="nf4", lora=True)}
gpus = memory_estimate.GPUS_GIB
print(f"{'model':14}{'set-up':17}{'GiB/GPU':>8}  " + "  ".join(f"{g:>9}" for g in gpus))
table = {}
for model_name, s in SHAPES.items():
    for setup, options in setups.items():
        options = dict(options)
        trainable = int(0.01 * s.parameters) if options.pop("lora") else s.parameters
        need = estimate(s, trainable, tokens, autocast_dtype="bfloat16", **options).total
        table[model_name, setup] = need
        print(f"{model_name:14}{setup:17}{need / 1024:8.1f}  "
              + "  ".join(f"{'fits' if fits(need, gib) else '-':>9}" for gib in gpus.values()))
"""),
("md", """
Two lessons in the table: **LoRA** removes most of the optimizer and gradient memory, but not the
weights or the activations (for a small model with a large vocabulary the activations can
outweigh the weights: gradient checkpointing, notebook 10, or a smaller batch with
accumulation is the cure); **ZeRO-3** makes a full fine-tune fit where no single card could hold
its Adam state.
"""),
("md", """
## Configs for GPUs: FSDP, DeepSpeed ZeRO-2 and ZeRO-3, several machines
`configs/accelerate/` holds one file per set-up; `accelerate launch --config_file FILE train.py`
runs the same training script under each. None can run on this CPU (DeepSpeed is not even
installed), so we check what can be checked without the GPUs: accelerate reads each file with its
own `ClusterConfig` reader (which rejects unknown keys), and every key under `fsdp_config` or
`deepspeed_config` must be a field of accelerate's `FullyShardedDataParallelPlugin` or
`DeepSpeedPlugin`; the ZeRO stage, offload devices and machine counts must be possible.
"""),
("code", """
config_dir = accelerate_configs.CONFIG_DIR
for path in sorted(config_dir.glob("*.yaml")):
    cfg = accelerate_configs.load_accelerate_config(path)
    detail = (f"ZeRO-{cfg.deepspeed_config['zero_stage']}" if cfg.deepspeed_config
              else f"FSDP v{cfg.fsdp_config.get('fsdp_version', 1)}" if cfg.fsdp_config else "")
    print(f"{path.name:22} {str(cfg.distributed_type).split('.')[-1]:10} {detail:8} "
          f"{cfg.num_processes:2} processes on {cfg.num_machines} machine(s), {cfg.mixed_precision}")
"""),
("code", """
broken = run / "zero4.yaml"
broken.write_text((config_dir / "deepspeed_zero2.yaml").read_text().replace("zero_stage: 2", "zero_stage: 4"))
try:
    accelerate_configs.load_accelerate_config(broken)
    refusal = ""
except labkit.errors.ConfigError as error:
    refusal = str(error)
print(refusal)
assert "zero4.yaml: key 'deepspeed_config.zero_stage'" in refusal
"""),
("md", """
## Past one machine
When one machine's GPUs are not enough (the model's sharded state or the wanted throughput), the
same script goes to several machines:

* **accelerate / DeepSpeed multi-node**: `configs/accelerate/multi_node.yaml` (2 machines × 8 GPUs,
  ZeRO-3). The same `accelerate launch` runs on every machine with its own `--machine_rank`;
  all reach `main_process_ip:main_process_port` of machine 0. Between machines, the all-reduce runs
  over the network: InfiniBand or fast Ethernet decides whether the second machine pays off.
* **SLURM** (university and HPC clusters) starts one launcher per node:

  ```bash
  #!/bin/bash
  #SBATCH --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 --time=04:00:00
  export MAIN=$(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1)
  srun accelerate launch --config_file configs/accelerate/multi_node.yaml \\
       --machine_rank $SLURM_NODEID --main_process_ip $MAIN train.py
  ```
* **Ray Train** (`ray.train.torch.TorchTrainer` with `ScalingConfig(num_workers=16, use_gpu=True)`)
  starts the workers on a Ray cluster, restarts failed ones and fits cloud autoscaling; the
  training function inside is the same accelerate or plain DDP loop.
* Managed platforms the survey names (SageMaker, Vertex AI, Azure ML) wrap the same launchers.
"""),
("md", """
## Exercise
DeepSpeed ZeRO-3 over 8 GPUs: how many MiB of **Adam state** does each GPU hold for a *full* bf16
fine-tune of SmolLM2-1.7B (fp32 moments and fp32 master weights, 12 bytes per parameter, sharded)?
Compute it by hand from the parameter count in `SHAPES`, then check.
"""),
("code", """
adam_mib_per_gpu = None  # your answer, in MiB
exercises.check(adam_mib_per_gpu,
                estimate(SHAPES["SmolLM2-1.7B"], SHAPES["SmolLM2-1.7B"].parameters, 1, weight_dtype="bfloat16",
                         zero_stage=3, world_size=8).optimizer,
                tolerance=50, hint="parameters x 12 bytes / 8 GPUs / 2**20")
"""),
("md", """
## Summary
* Data parallelism with accelerate runs the *same* optimisation on several processes: with equal
  global batches the 1- and 2-process loss curves matched within the tolerance, while each rank's
  own half-batch loss did not.
* More processes pay off because each brings its own hardware; the throughput and wall-time table
  shows what start-up, a model copy per process and the all-reduce cost against that gain.
* A four-term memory estimate (weights, gradients, optimizer state, activations; by precision and
  ZeRO stage) stayed within its stated error of the measured peak, and tells before a run what fits
  on a T4, an L4, an A100 or an H100.
* FSDP, ZeRO-2/3 and multi-machine configs are checked here by accelerate's own readers; SLURM and
  Ray Train take the same script past one machine.

Next: **25 · Vision-language models**.
"""),
]

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "notebooks" / "24_platforms_scaling.ipynb"
    print(build(cells, out))
