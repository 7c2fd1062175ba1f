"""Monitoring a deployed model: request logs, embedding drift tests (MMD), CUSUM quality alerts and
knowledge-base updates. Used by notebook 23 (stage 7: monitoring and maintenance)."""
