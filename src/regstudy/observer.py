"""The observer interface: what watches a training run without changing it.

A leaf module (imports nothing of regstudy at run time) so that `training/`, which calls
observers, and `diagnostics/`, which implements them, both depend on it and not on each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

if TYPE_CHECKING:  # annotations only: no import at run time
    from torch import nn


class StopRun(Exception):
    """Raised by an observer's `on_epoch_end` to end the run early with `status` (e.g. "pruned").

    The loop stops after the epoch; the run's record gets `status` and `stop_reason`, no test
    metrics and no checkpoint, and counts as finished (a re-run does not retrain it)."""

    def __init__(self, status: str, reason: str = "") -> None:
        super().__init__(f"{status}: {reason}" if reason else status)
        self.status = status
        self.reason = reason


class Observer:
    """Something that watches training without changing it (statistics, diagnostics, pruning)."""

    def wants_sites(self, step: int) -> bool:
        """True to receive this training step's activation sites in `after_backward`."""
        return False

    def after_backward(self, step: int, model: nn.Module, rec: Any) -> None:
        """Called after each backward pass, before the optimizer step (gradients are true)."""

    def wants_eval_sites(self, split: str) -> bool:
        """True to receive each evaluation batch's activation sites of `split` via `on_eval`."""
        return False

    def on_eval(self, split: str, model: nn.Module, rec: Any) -> None:
        pass

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, Any]:
        """Per-epoch values for the history row; keys with '/' also become TensorBoard scalars."""
        return {}

    def on_epoch_end(self, row: Dict[str, Any]) -> None:
        """The finished epoch's complete history row, after it joined the history and before the
        checkpoint is saved. May raise StopRun to end the run (e.g. a pruned search trial)."""

    def on_train_end(self, result: Any) -> None:
        """Once after the loop (`result` is train.loop.LoopResult), whatever its status."""

    def state_dict(self) -> Dict[str, Any]:
        """State that must survive a mid-epoch checkpoint (tensors and plain Python values)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass
