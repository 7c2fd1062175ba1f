"""Preference alignment: checkable preference pairs, reward models, PPO, DPO and ORPO / KTO / GRPO.
Used by notebooks 17 (reward modelling), 18 (PPO) and 19 (DPO and its relatives)."""
