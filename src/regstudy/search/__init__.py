"""Hyperparameter search: an Optuna (>= 4, ask-and-tell) sweeper for `regstudy train -m`.

Optuna is imported only where a search runs or a trial reports to its study: the
modules `config`, `space` (parsing) and `objective` stay light for `--help` and `--cfg job`.
"""
