"""Vision-language (notebook 25): `images` (generated pictures with known content), `vlm` (a LLaVA-style model: encoder,
pixel shuffle, projector into SmolLM2, two-stage training), `smolvlm` (SmolVLM fine-tuned by name in `gpu`)."""
