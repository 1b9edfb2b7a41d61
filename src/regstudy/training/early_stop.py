"""Early stopping on validation loss: stop after `patience` epochs without a new best.

A small state object rather than loop-local counters, so the loop stays readable and a
checkpoint can save and restore it (`dataclasses.asdict`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass
class EarlyStopping:
    patience: int              # 0 = never stop early
    best_loss: float = math.inf
    stale_epochs: int = 0

    def should_stop(self, val_loss: Optional[float]) -> bool:
        """Record one epoch's validation loss; True once `patience` epochs brought no improvement.

        A non-finite or missing loss counts as no improvement (never as a new best)."""
        if self.patience <= 0:
            return False
        if val_loss is not None and val_loss < self.best_loss:
            self.best_loss, self.stale_epochs = val_loss, 0
        else:
            self.stale_epochs += 1
        return self.stale_epochs >= self.patience
