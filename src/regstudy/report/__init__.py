"""Results over many runs: load run records, summarise over seeds, print paper-style tables.

Torch-free: `regstudy table` imports only pandas and scipy.
"""
