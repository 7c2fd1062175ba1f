"""Safety evaluation (notebook 21): `rules` (refusal-phrase judge, unsafe replies hidden), `guard` (MiniLM + logistic
head: does a reply comply?), `rates` (prompt and reply loaders; unsafe-compliance and benign-refusal rates)."""
