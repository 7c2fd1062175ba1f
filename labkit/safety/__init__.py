"""Safety evaluation (notebook 21, in progress): `rules` (a refusal-phrase check), `guard` (MiniLM embeddings +
a logistic-regression head), `rates` (unsafe and benign-refusal rates, the safety prompt loader)."""
