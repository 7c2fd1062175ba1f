"""Evaluation metrics for notebook 20 (survey §7.1–7.7): token F1, log-likelihood multiple choice,
judge agreement and position bias, expected calibration error and temperature scaling."""
