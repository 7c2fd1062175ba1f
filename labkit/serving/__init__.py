"""Stage 6, deployment (notebook 22): `export` (merge a LoRA adapter, save safetensors), `server` (an
OpenAI-compatible chat server with batching, a KV-cache switch and a JSONL traffic log), `client` (start, query, load-test)."""
