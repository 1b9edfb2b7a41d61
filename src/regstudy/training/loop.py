"""The training loop. `Loop.run` reads as the algorithm; each step of it is one method below.

It knows nothing about particular models or regularizers: it builds nothing itself, asks each
regularizer for its loss term, lets observers (statistics, diagnostics, a search's pruner) look
at each step and each finished epoch, and reports per-epoch rows to a callback.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datamodule import DataBundle
from ..models.sites import record_sites
from ..observer import Observer, StopRun
from .checkpoint import capture_rng, restore_rng
from .early_stop import EarlyStopping
from .evaluate import evaluate
from .faults import maybe_fail
from .progress import Progress
from .signals import StopRequest

log = logging.getLogger("regstudy")


@dataclass
class TrainState:
    """What the loop mutates: saved in every checkpoint, restored on resume."""

    epoch: int = 0                    # completed epochs
    step: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    best_key: Optional[List[float]] = None
    best_epoch: int = 0
    best_state: Dict[str, torch.Tensor] = field(default_factory=dict)
    history: List[Dict[str, Any]] = field(default_factory=list)
    stopper: Dict[str, Any] = field(default_factory=dict)
    # Set only by a checkpoint written mid-epoch (on SIGTERM/SIGUSR2): where to pick up.
    partial: Optional[Dict[str, Any]] = None


@dataclass
class LoopResult:
    status: str                       # completed | diverged | an observer's StopRun status
    state: TrainState
    diverged_at: Optional[Dict[str, int]] = None
    stopped_early: bool = False       # trainer.early_stop_patience ran out
    stop_reason: Optional[str] = None  # StopRun.reason when an observer ended the run

    @property
    def epochs_run(self) -> int:
        return self.state.epoch

    @property
    def history(self) -> List[Dict[str, Any]]:
        return self.state.history


@dataclass
class EpochTally:
    """Running sums of one epoch; a signal checkpoint saves them (`partial`) to continue it."""

    gen_state: torch.Tensor           # data-order generator at the epoch's start
    loss_sum: torch.Tensor            # on the device: no host sync per step
    correct: torch.Tensor
    batches_done: int = 0
    seen: int = 0
    elapsed: float = 0.0              # seconds spent on this epoch before a resume
    t0: float = 0.0

    def __post_init__(self) -> None:
        self.t0 = time.perf_counter() - self.elapsed

    def add(self, loss: torch.Tensor, out: torch.Tensor, yb: torch.Tensor) -> None:
        n = yb.shape[0]
        self.seen += n
        self.batches_done += 1
        self.loss_sum += loss.detach() * n
        self.correct += (out.detach().argmax(1) == yb).sum()

    def seconds(self) -> float:
        return time.perf_counter() - self.t0

    def partial(self) -> Dict[str, Any]:
        return {"gen_state": self.gen_state, "batches_done": self.batches_done, "seen": self.seen,
                "elapsed": self.seconds(), "loss_sum": self.loss_sum.cpu(),
                "correct": self.correct.cpu()}


def _amp_context(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def _state_copy(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _params_finite(model: nn.Module) -> bool:
    norms = torch._foreach_norm([p.detach() for p in model.parameters()])
    return bool(torch.stack(norms).isfinite().all())


class Checkpointer:
    """Interface the loop saves through (implemented in run.py); None disables checkpoints."""

    def save(self, state: TrainState, rng: Dict[str, Any], observers: List[Observer],
             scaler: Dict[str, Any]) -> None:
        raise NotImplementedError


class Loop:
    """Trains `model` for `cfg.trainer.epochs`, keeping the best-on-validation weights."""

    def __init__(self, cfg, model: nn.Module, data: DataBundle,
                 optimizer: torch.optim.Optimizer, scheduler, regularizers: list,
                 observers: List[Observer], device: torch.device,
                 checkpointer: Optional[Checkpointer] = None,
                 stop: Optional[StopRequest] = None) -> None:
        self.cfg, self.tr = cfg, cfg.trainer
        self.model, self.data, self.device = model, data, device
        self.optimizer, self.scheduler = optimizer, scheduler
        self.regularizers, self.observers = regularizers, observers
        self.checkpointer, self.stop = checkpointer, stop
        self.gen = torch.Generator().manual_seed(cfg.seed)                 # data order
        self.aug_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)  # crop/flip draws
        self.scaler = torch.amp.GradScaler(
            "cuda", init_scale=self.tr.amp_init_scale,
            enabled=(self.tr.amp == "fp16" and device.type == "cuda"))
        self.reg_sites = any(r.needs_sites for r in regularizers)
        self.progress = Progress(self.tr.progress,
                                 total=math.ceil(len(data.train) / self.tr.batch_size))
        self.st = TrainState(best_state=_state_copy(model))
        self.stopper = EarlyStopping(self.tr.early_stop_patience)
        self.result = LoopResult("completed", self.st)

    # -- the algorithm ---------------------------------------------------------------------

    def run(self, on_epoch: Callable[[Dict[str, Any]], None]) -> LoopResult:
        """Epochs until the budget is spent, the run diverges, early stopping or an observer's
        StopRun ends it; each finished epoch is checkpointed, then reported to `on_epoch`."""
        try:
            while self._budget_left():
                epoch = self.st.epoch + 1
                tally = self.train_epoch(epoch)
                if self._diverged(epoch):
                    break
                row = self._end_epoch(epoch, tally)
                if not self._observers_continue(row):
                    on_epoch(row)
                    break
                self._save()
                on_epoch(row)
                self._hand_over_if_asked()
                if self.result.stopped_early:
                    break
        finally:
            self.progress.close()
        return self.result

    def restore(self, resume: Dict[str, Any]) -> None:
        """Continue from a checkpoint (`RunCheckpointer.restore`'s payload): state, RNGs,
        gradient scaler, observers and early-stopping counters."""
        self.st = self.result.state = resume["state"]
        restore_rng(resume["rng"], self.gen, self.aug_gen)
        self.scaler.load_state_dict(resume.get("scaler", self.scaler.state_dict()))
        for obs, obs_state in zip(self.observers, resume.get("observers", [])):
            obs.load_state_dict(obs_state)
        if self.st.stopper:
            self.stopper = EarlyStopping(**self.st.stopper)

    def train_epoch(self, epoch: int) -> EpochTally:
        """One pass over the training batches (or the rest of an interrupted one)."""
        tr = self.tr
        self.model.train()
        tally = self._open_epoch()
        self.progress.start_epoch(epoch, tr.epochs)
        for xb, yb in self.data.train.batches(tr.batch_size, self.gen, self.data.augment_pad,
                                              self.aug_gen, tr.channels_last,
                                              start_batch=tally.batches_done):
            out, loss, total = self.step(xb, yb)
            tally.add(loss, out, yb)
            maybe_fail("step")
            last = tally.seen == len(self.data.train) or self._steps_spent()
            if (self.st.step % tr.log_every_n_steps == 0 or last) and \
                    not self._loss_finite(epoch, tally, total):
                break
            if self.stop and not last:
                self._save(tally.partial())
                log.warning("%s: checkpoint written inside epoch %d after step %d (batch %d of "
                            "%d); the same command resumes from it", self.stop.name, epoch,
                            self.st.step, tally.batches_done, self.progress.total)
                self.progress.close()
                self.stop.hand_over()
            if self._steps_spent():
                break
        self.st.train_seconds += tally.seconds()
        self.st.samples += tally.seen
        self.progress.end_epoch()
        return tally

    def step(self, xb: torch.Tensor, yb: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One optimizer step: forward (recording activation sites when a regularizer or an
        observer wants them), loss plus penalties, backward, observers, clipping, update.
        Returns the logits, the data loss and the total loss."""
        self.st.step += 1
        step = self.st.step
        want_sites = self.reg_sites or any(o.wants_sites(step) for o in self.observers)
        with record_sites(self.model, want_sites) as rec, _amp_context(self.device, self.tr.amp):
            out = self.model(xb)
            loss = F.cross_entropy(out.float(), yb)
        total = loss
        for reg in self.regularizers:
            term = reg.penalty(self.model, rec)
            if term is not None:
                total = total + term
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.optimizer)  # observers and clipping see true gradients
        for obs in self.observers:
            obs.after_backward(step, self.model, rec)
        if self.tr.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.tr.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return out, loss, total

    # -- the pieces ------------------------------------------------------------------------

    def _budget_left(self) -> bool:
        return self.st.epoch < self.tr.epochs and not self._steps_spent()

    def _steps_spent(self) -> bool:
        return bool(self.tr.max_steps and self.st.step >= self.tr.max_steps)

    def _open_epoch(self) -> EpochTally:
        """A fresh epoch, or the rest of one that a signal checkpoint interrupted."""
        part, self.st.partial = self.st.partial, None
        if part is None:
            return EpochTally(self.gen.get_state(), torch.zeros((), device=self.device),
                              torch.zeros((), device=self.device, dtype=torch.int64))
        self.gen.set_state(part["gen_state"])
        return EpochTally(part["gen_state"], part["loss_sum"].to(self.device),
                          part["correct"].to(self.device), part["batches_done"], part["seen"],
                          part["elapsed"])

    def _loss_finite(self, epoch: int, tally: EpochTally, total: torch.Tensor) -> bool:
        """The only host sync, at log intervals: False (and status diverged) on a non-finite loss."""
        running = tally.loss_sum.item() / tally.seen
        if not math.isfinite(running) or not math.isfinite(total.item()):
            self.result.status = "diverged"
            self.result.diverged_at = {"epoch": epoch, "step": self.st.step}
            return False
        self.progress.update(self.st.step, running)
        return True

    def _diverged(self, epoch: int) -> bool:
        """True when the loss or (checked once per epoch) a parameter became non-finite."""
        if self.result.status == "completed" and not _params_finite(self.model):
            self.result.status = "diverged"
            self.result.diverged_at = {"epoch": epoch, "step": self.st.step}
        if self.result.status != "diverged":
            return False
        log.warning("loss or parameters became non-finite at epoch %d step %d: run diverged",
                    epoch, self.result.diverged_at["step"])
        return True

    def _end_epoch(self, epoch: int, tally: EpochTally) -> Dict[str, Any]:
        """Validation, observers' summaries, best weights, scheduler, history, early stopping."""
        st = self.st
        row: Dict[str, Any] = {"epoch": epoch, "step": st.step,
                               "lr": self.optimizer.param_groups[0]["lr"],
                               "train_loss": tally.loss_sum.item() / tally.seen,
                               "train_acc": tally.correct.item() / tally.seen,
                               "epoch_seconds": round(tally.seconds(), 3)}
        key = self._validate(epoch, row)
        for obs in self.observers:
            row.update(obs.epoch_summary(epoch, st.step))
        if st.best_key is None or key > st.best_key:
            st.best_key, st.best_epoch, st.best_state = key, epoch, _state_copy(self.model)
        if self.scheduler is not None:
            self.scheduler.step()
        st.history.append(row)
        st.epoch = epoch
        val = f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if "val_acc" in row else ""
        log.info("epoch %d/%d  train loss %.4f acc %.4f%s  (%.1fs)", epoch, self.tr.epochs,
                 row["train_loss"], row["train_acc"], val, row["epoch_seconds"])
        if self.stopper.should_stop(row.get("val_loss")):
            self.result.stopped_early = True
            log.info("early stop: val loss has not improved for %d epochs", self.stopper.patience)
        return row

    def _validate(self, epoch: int, row: Dict[str, Any]) -> List[float]:
        """Adds val_loss/val_acc to `row`; returns the model-selection key (higher is better)."""
        if self.data.val is None:
            return [float(epoch), 0.0]  # no validation set: the last epoch is the selected model
        val = evaluate(self.model, self.data.val, self.tr.eval_batch_size, self.tr.channels_last,
                       self.observers, "val")
        row.update(val_loss=val["loss"], val_acc=val["acc"])
        return [val["acc"], -val["loss"]]

    def _observers_continue(self, row: Dict[str, Any]) -> bool:
        """Each observer's `on_epoch_end`; False when one raised StopRun (status recorded)."""
        try:
            for obs in self.observers:
                obs.on_epoch_end(row)
        except StopRun as stop:
            self.result.status, self.result.stop_reason = stop.status, stop.reason
            log.info("run stopped after epoch %d by an observer: %s", row["epoch"], stop)
            return False
        return True

    def _save(self, partial: Optional[Dict[str, Any]] = None) -> None:
        if self.checkpointer is not None:
            self.st.stopper, self.st.partial = asdict(self.stopper), partial
            self.checkpointer.save(self.st, capture_rng(self.gen, self.aug_gen), self.observers,
                                   self.scaler.state_dict())
            self.st.partial = None

    def _hand_over_if_asked(self) -> None:
        if self.stop:
            log.warning("%s: checkpoint written after epoch %d (step %d); the same command "
                        "resumes from it", self.stop.name, self.st.epoch, self.st.step)
            self.progress.close()
            self.stop.hand_over()


def final_test(model: nn.Module, result: LoopResult, data: DataBundle, cfg) -> Dict[str, float]:
    """Test metrics of the last weights and of the best-on-validation weights (the selected model)."""
    tr = cfg.trainer
    last = evaluate(model, data.test, tr.eval_batch_size, tr.channels_last)
    last_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(result.state.best_state)
    best = evaluate(model, data.test, tr.eval_batch_size, tr.channels_last)
    model.load_state_dict(last_state)
    return {"test_loss": best["loss"], "test_acc": best["acc"], "test_error": 1.0 - best["acc"],
            "last_test_loss": last["loss"], "last_test_acc": last["acc"]}
