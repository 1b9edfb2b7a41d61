"""What watches training: the Observer interface and the StopRun signal (contract C1).

A leaf module (nothing heavy at import), so code outside the loop, such as a search trial's
pruning reporter, can implement an observer without importing the loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:
    from torch import nn

    from .models.sites import SiteRecord
    from .train.loop import LoopResult


class StopRun(Exception):
    """Raised by an observer's `on_epoch_end` to end the run early with `status` (e.g. pruned)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class Observer:
    """Something that watches training without changing it (statistics, diagnostics)."""

    def wants_sites(self, step: int) -> bool:
        return False

    def after_backward(self, step: int, model: "nn.Module", rec: "SiteRecord") -> None:
        pass

    def wants_eval_sites(self, split: str) -> bool:
        """True to receive each evaluation batch's activation sites of `split` via `on_eval`."""
        return False

    def on_eval(self, split: str, model: "nn.Module", rec: "SiteRecord") -> None:
        pass

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, Any]:
        """Per-epoch values for the history row; keys with '/' also become TensorBoard scalars."""
        return {}

    def on_epoch_end(self, row: Dict[str, Any]) -> None:
        """Called with each finished epoch's complete history row; may raise StopRun."""

    def on_train_end(self, result: "LoopResult") -> None:
        pass

    def state_dict(self) -> Dict[str, Any]:
        """State that must survive a mid-epoch checkpoint (tensors and plain Python values)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass
