"""The capstone (notebook 29): `ownfile` (the learner's own JSONL: an upload or a path, its schema told from its
fields, and held-out rows planted on the training side to check the pipeline's de-duplication)."""
