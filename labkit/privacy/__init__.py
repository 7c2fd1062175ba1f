"""Privacy (notebook 27): `dp` (DP-SGD with Opacus on a head over frozen embeddings), `canaries` (secret-sharer
canaries, a LoRA on SmolLM2's LM head, exposure), `federated` (FedAvg of LoRA adapters, non-identical clients, bytes)."""
