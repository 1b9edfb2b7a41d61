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
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..data.datamodule import DataBundle
from ..models.sites import SiteRecord, record_sites
from .early_stop import EarlyStopping
from .evaluate import evaluate
from .progress import Progress

log = logging.getLogger("regstudy")


class Observer:
    """Something that watches training without changing it (statistics, diagnostics)."""

    def wants_sites(self, step: int) -> bool:
        return False

    def after_backward(self, step: int, model: nn.Module, rec: SiteRecord) -> None:
        pass

    def wants_eval_sites(self, split: str) -> bool:
        """True to receive each evaluation batch's activation sites of `split` via `on_eval`."""
        return False

    def on_eval(self, split: str, model: nn.Module, rec: SiteRecord) -> None:
        pass

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, Any]:
        """Per-epoch values for the history row; keys with '/' also become TensorBoard scalars."""
        return {}

    def on_train_end(self, result: "LoopResult") -> None:
        pass


@dataclass
class LoopResult:
    status: str                       # completed | diverged
    epochs_run: int
    steps: int
    best_epoch: int
    best_state: Dict[str, torch.Tensor]
    diverged_at: Optional[Dict[str, int]] = None
    stopped_early: bool = False       # trainer.early_stop_patience ran out
    train_seconds: float = 0.0
    samples: int = 0
    history: List[Dict[str, Any]] = field(default_factory=list)


def _amp_context(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type="cuda", dtype=dtype)


def _state_copy(model: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit(cfg, model: nn.Module, data: DataBundle, optimizer: torch.optim.Optimizer, scheduler,
        regularizers: list, observers: List[Observer],
        on_epoch: Callable[[Dict[str, Any]], None], device: torch.device) -> LoopResult:
    """Train for `cfg.trainer.epochs`, keeping the weights best on validation."""
    tr = cfg.trainer
    gen = torch.Generator().manual_seed(cfg.seed)                 # data order
    aug_gen = torch.Generator().manual_seed(cfg.seed + 1_000_003)  # crop/flip draws
    scaler = torch.amp.GradScaler("cuda", enabled=(tr.amp == "fp16" and device.type == "cuda"))
    reg_sites = any(r.needs_sites for r in regularizers)
    steps_per_epoch = math.ceil(len(data.train) / tr.batch_size)
    progress = Progress(tr.progress, total=steps_per_epoch)

    step, samples, train_seconds = 0, 0, 0.0
    best_key, best_epoch, best_state = None, 0, _state_copy(model)
    result = LoopResult("completed", 0, 0, 0, best_state)
    stopper = EarlyStopping(tr.early_stop_patience)
    for epoch in range(1, tr.epochs + 1):
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.int64)
        seen = 0
        t0 = time.perf_counter()
        progress.start_epoch(epoch, tr.epochs)
        for xb, yb in data.train.batches(tr.batch_size, gen, data.augment_pad, aug_gen,
                                         tr.channels_last):
            step += 1
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
            scaler.step(optimizer)
            scaler.update()

            n = yb.shape[0]
            seen += n
            loss_sum += loss.detach() * n
            correct += (out.detach().argmax(1) == yb).sum()
            last_step = seen == len(data.train) or (tr.max_steps and step >= tr.max_steps)
            if step % tr.log_every_n_steps == 0 or last_step:
                running = loss_sum.item() / seen        # the only host sync, at log intervals
                if not math.isfinite(running) or not math.isfinite(total.item()):
                    result.status = "diverged"
                    result.diverged_at = {"epoch": epoch, "step": step}
                    break
                progress.update(step, running)
            if tr.max_steps and step >= tr.max_steps:
                break
        train_seconds += time.perf_counter() - t0
        samples += seen
        progress.end_epoch()
        if result.status == "diverged":
            log.warning("loss became non-finite at epoch %d step %d: run diverged", epoch, step)
            break

        row: Dict[str, Any] = {"epoch": epoch, "step": step,
                               "lr": optimizer.param_groups[0]["lr"],
                               "train_loss": loss_sum.item() / seen,
                               "train_acc": correct.item() / seen,
                               "epoch_seconds": round(time.perf_counter() - t0, 3)}
        if data.val is not None:
            val = evaluate(model, data.val, tr.eval_batch_size, tr.channels_last, observers, "val")
            row.update(val_loss=val["loss"], val_acc=val["acc"])
            key = (val["acc"], -val["loss"])
        else:
            key = (epoch, 0.0)  # no validation set: the last epoch is the selected model
        for obs in observers:
            row.update(obs.epoch_summary(epoch, step))
        if best_key is None or key > best_key:
            best_key, best_epoch, best_state = key, epoch, _state_copy(model)
        if scheduler is not None:
            scheduler.step()
        result.history.append(row)
        on_epoch(row)
        log.info("epoch %d/%d  train loss %.4f acc %.4f%s  (%.1fs)", epoch, tr.epochs,
                 row["train_loss"], row["train_acc"],
                 f"  val loss {row['val_loss']:.4f} acc {row['val_acc']:.4f}" if "val_acc" in row else "",
                 row["epoch_seconds"])
        result.epochs_run = epoch
        if stopper.should_stop(row.get("val_loss")):
            result.stopped_early = True
            log.info("early stop: val loss has not improved for %d epochs", stopper.patience)
            break
        if tr.max_steps and step >= tr.max_steps:
            break
    progress.close()
    result.steps, result.samples, result.train_seconds = step, samples, train_seconds
    result.best_epoch, result.best_state = best_epoch, best_state
    return result


def final_test(model: nn.Module, result: LoopResult, data: DataBundle, cfg) -> Dict[str, float]:
    """Test metrics of the last weights and of the best-on-validation weights (the selected model)."""
    tr = cfg.trainer
    last = evaluate(model, data.test, tr.eval_batch_size, tr.channels_last)
    last_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(result.best_state)
    best = evaluate(model, data.test, tr.eval_batch_size, tr.channels_last)
    model.load_state_dict(last_state)
    return {"test_loss": best["loss"], "test_acc": best["acc"], "test_error": 1.0 - best["acc"],
            "last_test_loss": last["loss"], "last_test_acc": last["acc"]}
