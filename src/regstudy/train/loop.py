"""The training loop: one function you can read in one sitting.

It knows nothing about particular models or regularizers: it builds them from
config, asks each regularizer for its loss term, lets observers (statistics,
diagnostics) look at each step, and reports per-epoch metrics to a callback.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional

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
    stop_reason: Optional[str] = None  # why an observer stopped the run (StopRun)

    @property
    def epochs_run(self) -> int:
        return self.state.epoch

    @property
    def history(self) -> List[Dict[str, Any]]:
        return self.state.history


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


def fit(cfg, model: nn.Module, data: DataBundle, optimizer: torch.optim.Optimizer, scheduler,
        regularizers: list, observers: List[Observer],
        on_epoch: Callable[[Dict[str, Any]], None], device: torch.device,
        resume: Optional[Dict[str, Any]] = None, checkpointer: Optional[Checkpointer] = None,
        stop: Optional[StopRequest] = None) -> LoopResult:
    """Train for `cfg.trainer.epochs` (from `resume` if given), keeping the best-on-validation weights."""
    tr = cfg.trainer
    gen = torch.Generator().manual_seed(cfg.seed)                 # data order
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)  # crop/flip draws
    scaler = torch.amp.GradScaler("cuda", enabled=(tr.amp == "fp16" and device.type == "cuda"))
    reg_sites = any(r.needs_sites for r in regularizers)
    steps_per_epoch = math.ceil(len(data.train) / tr.batch_size)
    progress = Progress(tr.progress, total=steps_per_epoch)

    st = TrainState(best_state=_state_copy(model))
    if resume is not None:
        st = resume["state"]
        restore_rng(resume["rng"], gen, aug_gen)
        scaler.load_state_dict(resume.get("scaler", scaler.state_dict()))
        for obs, obs_state in zip(observers, resume.get("observers", [])):
            obs.load_state_dict(obs_state)
    stopper = EarlyStopping(**st.stopper) if st.stopper else EarlyStopping(tr.early_stop_patience)
    result = LoopResult("completed", st)

    def save(partial: Optional[Dict[str, Any]] = None) -> None:
        if checkpointer is not None:
            st.stopper, st.partial = asdict(stopper), partial
            checkpointer.save(st, capture_rng(gen, aug_gen), observers, scaler.state_dict())
            st.partial = None

    while st.epoch < tr.epochs and not (tr.max_steps and st.step >= tr.max_steps):
        epoch = st.epoch + 1
        model.train()
        part = st.partial
        if part is None:  # a fresh epoch
            epoch_gen_state, start_batch, seen, elapsed = gen.get_state(), 0, 0, 0.0
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.int64)
        else:             # continue an epoch interrupted by a signal checkpoint
            epoch_gen_state, start_batch, seen, elapsed = (part["gen_state"], part["batches_done"],
                                                           part["seen"], part["elapsed"])
            gen.set_state(epoch_gen_state)
            loss_sum, correct = part["loss_sum"].to(device), part["correct"].to(device)
            st.partial = None
        batch_no = start_batch
        t0 = time.perf_counter() - elapsed
        progress.start_epoch(epoch, tr.epochs)
        for xb, yb in data.train.batches(tr.batch_size, gen, data.augment_pad, aug_gen,
                                         tr.channels_last, start_batch=start_batch):
            st.step += 1
            step = st.step
            want_sites = reg_sites or any(o.wants_sites(step) for o in observers)
            with record_sites(model, want_sites) as rec, _amp_context(device, tr.amp):
                out = model(xb)
                loss = F.cross_entropy(out.float(), yb)
            total = loss
            for reg in regularizers:
                term = reg.penalty(model, rec)
                if term is not None:
                    total = total + term
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)  # observers and clipping see true gradients (no-op unless fp16)
            for obs in observers:
                obs.after_backward(step, model, rec)
            if tr.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tr.grad_clip)
            scaler.step(optimizer)
            scaler.update()

            n = yb.shape[0]
            seen += n
            batch_no += 1
            loss_sum += loss.detach() * n
            correct += (out.detach().argmax(1) == yb).sum()
            maybe_fail("step")
            last_step = seen == len(data.train) or (tr.max_steps and step >= tr.max_steps)
            if step % tr.log_every_n_steps == 0 or last_step:
                running = loss_sum.item() / seen        # the only host sync, at log intervals
                if not math.isfinite(running) or not math.isfinite(total.item()):
                    result.status = "diverged"
                    result.diverged_at = {"epoch": epoch, "step": step}
                    break
                progress.update(step, running)
            if stop and not last_step:
                save({"gen_state": epoch_gen_state, "batches_done": batch_no, "seen": seen,
                      "elapsed": time.perf_counter() - t0, "loss_sum": loss_sum.cpu(),
                      "correct": correct.cpu()})
                progress.close()
                stop.hand_over()
            if tr.max_steps and step >= tr.max_steps:
                break
        epoch_seconds = time.perf_counter() - t0
        st.train_seconds += epoch_seconds
        st.samples += seen
        progress.end_epoch()
        if result.status == "completed" and not _params_finite(model):
            result.status = "diverged"
            result.diverged_at = {"epoch": epoch, "step": st.step}
        if result.status == "diverged":
            log.warning("loss or parameters became non-finite at epoch %d step %d: run diverged",
                        epoch, result.diverged_at["step"])
            break

        row: Dict[str, Any] = {"epoch": epoch, "step": st.step,
                               "lr": optimizer.param_groups[0]["lr"],
                               "train_loss": loss_sum.item() / seen,
                               "train_acc": correct.item() / seen,
                               "epoch_seconds": round(epoch_seconds, 3)}
        if data.val is not None:
            val = evaluate(model, data.val, tr.eval_batch_size, tr.channels_last, observers, "val")
            row.update(val_loss=val["loss"], val_acc=val["acc"])
            key = [val["acc"], -val["loss"]]
        else:
            key = [float(epoch), 0.0]  # no validation set: the last epoch is the selected model
        for obs in observers:
            row.update(obs.epoch_summary(epoch, st.step))
        if st.best_key is None or key > st.best_key:
            st.best_key, st.best_epoch, st.best_state = key, epoch, _state_copy(model)
        if scheduler is not None:
            scheduler.step()
        st.history.append(row)
        st.epoch = epoch
        log.info("epoch %d/%d  train loss %.4f acc %.4f%s  (%.1fs)", epoch, tr.epochs,
                 row["train_loss"], row["train_acc"],
                 f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if "val_acc" in row else "",
                 row["epoch_seconds"])
        try:
            for obs in observers:
                obs.on_epoch_end(row)
        except StopRun as halt:
            result.status, result.stop_reason = halt.status, halt.reason
            log.info("run stopped after epoch %d: %s (%s)", epoch, halt.status, halt.reason)
            on_epoch(row)
            break
        if stopper.should_stop(row.get("val_loss")):
            result.stopped_early = True
            log.info("early stop: val loss has not improved for %d epochs", stopper.patience)
        save()
        on_epoch(row)
        if stop:
            progress.close()
            stop.hand_over()
        if result.stopped_early:
            break
    progress.close()
    return result


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
