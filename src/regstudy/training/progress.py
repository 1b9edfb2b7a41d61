"""Progress display: a tqdm bar on a terminal, nothing per step otherwise (epoch lines are logged)."""

from __future__ import annotations

import sys

from ..config.choices import PROGRESS


class Progress:
    def __init__(self, mode: str, total: int) -> None:
        if mode not in PROGRESS:
            raise ValueError(f"trainer.progress={mode!r} is not one of {', '.join(PROGRESS)}")
        self.enabled = mode == "bar" or (mode == "auto" and sys.stderr.isatty())
        self.total = total
        self.bar = None
        self.last_step = 0

    def start_epoch(self, epoch: int, epochs: int) -> None:
        if self.enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=self.total, desc=f"epoch {epoch}/{epochs}", leave=False,
                            dynamic_ncols=True, file=sys.stderr)
            self.last_step = 0

    def update(self, step: int, loss: float) -> None:
        """Called at log intervals only (it follows a host sync the loop already made)."""
        if self.bar is not None:
            done = (step - 1) % self.total + 1
            self.bar.update(done - self.last_step)
            self.last_step = done
            self.bar.set_postfix(loss=f"{loss:.4f}")

    def end_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.end_epoch()
