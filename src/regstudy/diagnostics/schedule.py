"""Which optimizer steps the training diagnostics record on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RecordSchedule:
    """Recording steps of the gradient-flow and activation observers (steps are 1-based).

    `every_n_steps=0` picks the last training batch of each epoch, as the coursework's
    gradient-flow plots did: one record per epoch is what makes it cheap enough to leave on.
    A run cut short by `max_steps` records its final step too, so its last epoch is not blank.
    """

    every_n_steps: int
    steps_per_epoch: int
    epochs: int
    max_steps: int = 0
    hist_every_n_epochs: int = 0

    def epoch_of(self, step: int) -> int:
        return (step - 1) // self.steps_per_epoch + 1

    def is_final(self, step: int) -> bool:
        return step == self.max_steps or step == self.epochs * self.steps_per_epoch

    def ends_epoch(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0 or self.is_final(step)

    def due(self, step: int) -> bool:
        """Record scalars (gradient flow, activation statistics) at this step."""
        if self.every_n_steps > 0:
            return step % self.every_n_steps == 0
        return self.ends_epoch(step)

    def hist_due(self, step: int) -> bool:
        """Write |grad| histograms: last batch of every n-th epoch and of the final one."""
        n = self.hist_every_n_epochs
        if n <= 0 or not self.ends_epoch(step):
            return False
        return self.epoch_of(step) % n == 0 or self.is_final(step)

    def tb_step(self, step: int) -> int:
        """TensorBoard x value: the epoch when recording once per epoch (it then lines up with
        the loss curves), the optimizer step otherwise."""
        return self.epoch_of(step) if self.every_n_steps == 0 else step
