"""Experiments: scripts that wire hooks, probes and steering into a study and write artifacts/."""
