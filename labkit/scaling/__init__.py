"""Scaling out: a LoRA run on 1 or N processes with accelerate (DDP over gloo), a training-memory estimator and
checked accelerate configs for FSDP, DeepSpeed ZeRO and several machines. Used by notebook 24."""
