"""Ethics and accountability (notebook 28): `reviews` (staff reviews with a planted bias), `probes` (counterfactual swaps,
paired gaps with bootstrap CIs, LM next-word log-probs), `cards` (checked model and data cards), `audit` (SHA-256 trail)."""
