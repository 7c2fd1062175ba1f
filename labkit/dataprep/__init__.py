"""Stage 1, data preparation: cleaning, PII scrubbing, de-duplication, packing, synthetic data, imbalance.
Used by notebooks 07 (data preparation) and 08 (imbalanced data)."""
