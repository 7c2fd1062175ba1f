"""Language models before transformers: a count-based n-gram LM and a small GRU LM.
Used by notebook 01 (from n-grams to LLMs)."""
