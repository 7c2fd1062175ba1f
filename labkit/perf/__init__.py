"""Speed: `labkit bench`, labkit's training path against plain TRL, step for step.
Used by docs/performance.md; no notebook imports it."""
