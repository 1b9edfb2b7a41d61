"""Benchmarks and device checks of regstudy: run as `python -m bench.<name>` from the repository root."""
