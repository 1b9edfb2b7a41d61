"""Compose `regstudy train`'s config in process (Hydra's compose API): torch-free and quick.

The study reads its declaration, checks which knobs an arm has and writes each arm's tuned
configuration from configs composed exactly as the training runs will compose them.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Dict, List, Tuple

from omegaconf import DictConfig, OmegaConf

from ..config.compose import hydra_configs


class Composer:
    """Composes configs from fixed base overrides plus more; a context manager (Hydra's global
    state is initialized once and cleared on exit)."""

    def __init__(self, base: List[str]) -> None:
        self.base = list(base)
        self._stack = ExitStack()
        self._cache: Dict[Tuple[str, ...], DictConfig] = {}

    def __enter__(self) -> Composer:
        self._stack.enter_context(hydra_configs(job_name="study"))
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def compose(self, extra: List[str] = ()) -> DictConfig:
        from hydra import compose

        key = tuple(extra)
        if key not in self._cache:
            self._cache[key] = compose(config_name="train", overrides=[*self.base, *extra])
        return self._cache[key]

    def has_knob(self, regs: List[str], key: str) -> bool:
        """Whether the config with reg=[regs] has `key` set (a regularizer that is off is null)."""
        cfg = self.compose([f"reg=[{','.join(regs)}]"])
        return OmegaConf.select(cfg, key, default=None) is not None
