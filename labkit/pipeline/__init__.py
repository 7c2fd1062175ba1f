"""The seven-stage pipeline: its YAML run config (runconfig, checked before any work) and its stages.
Used by notebook 06 and the `labkit pipeline run/check CONFIG` command."""
