"""Sweeps across launchers: per-job thread budgets and the table written when a sweep ends."""
