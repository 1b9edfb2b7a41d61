"""One run, end to end: config -> build -> loop -> record. Called by `regstudy train`."""

from __future__ import annotations

import json
import logging
import platform
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from .. import __version__
from ..config.validate import ConfigError, check
from ..data.datamodule import load_data
from ..data.decode import DataNotFoundError
from ..models import ArchOptions, available_models, build_model
from ..record.metrics import METRICS_FILE, RunRecord
from ..record.tensorboard import TBLogger
from ..regularizers import Regularizer, build_regularizers
from .checkpoint import (CHECKPOINT_FILE, CheckpointError, config_differences, config_fingerprint,
                         load_checkpoint,
                         load_scheduler_state, save_checkpoint, scheduler_state)
from .loop import Checkpointer, Observer, TrainState, final_test, fit
from .signals import StopRequest
from .optim import build_optimizer, build_scheduler
from .runtime import DeviceError, pick_device, seed_everything, tune_malloc

log = logging.getLogger("regstudy")


class RunAborted(Exception):
    """The run stopped before training for a reason the user can fix (message says how)."""


def arch_options(model_cfg, regularizers) -> ArchOptions:
    """The model's own architecture choices, then each regularizer's switches on top."""
    opts = ArchOptions(activation=model_cfg.activation, leaky_slope=model_cfg.leaky_slope,
                       norm=model_cfg.norm, init=model_cfg.init)
    for reg in regularizers:
        opts = reg.arch(opts)
    return opts


def build_observers(cfg, model, run_dir: Path, tb: TBLogger,
                    steps_per_epoch: int) -> List[Observer]:
    """Statistics and diagnostics that watch the run. Each returns per-epoch values from
    `epoch_summary`: keys with a '/' are TensorBoard tags (and go to metrics.json history)."""
    from ..diagnostics.observers import diagnostic_observers
    from ..diagnostics.zsq import ZSquared

    every = cfg.trainer.zsq_every_n_steps
    zsq = [ZSquared(model, every)] if every > 0 else []
    return [*zsq, *diagnostic_observers(cfg, model, run_dir, tb, steps_per_epoch)]


def _run_meta(cfg: DictConfig, overrides: List[str]) -> Dict[str, Any]:
    return {
        "regstudy_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "host": platform.node(),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "overrides": overrides,
        "seed": cfg.seed,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def prepare(cfg: DictConfig) -> torch.device:
    """Every check that needs no data: raises RunAborted with one line per problem."""
    try:
        check(cfg)
        if cfg.model.name not in available_models():
            raise ConfigError(f"model.name={cfg.model.name!r} is not one of {available_models()}")
        device = pick_device(cfg.trainer.device)
        if cfg.trainer.amp != "none" and device.type != "cuda":
            raise ConfigError(f"trainer.amp={cfg.trainer.amp} needs CUDA but the run would use "
                              f"{device}; set trainer.amp=none")
    except (ConfigError, DeviceError) as err:
        raise RunAborted(str(err)) from err
    return device


class RunCheckpointer(Checkpointer):
    """Saves model, optimizer, scheduler and loop state into the run directory."""

    def __init__(self, path: Path, config: Dict[str, Any], model, optimizer, scheduler) -> None:
        self.path, self.config = path, config
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def save(self, state: TrainState, rng: Dict[str, Any], observers: List[Observer],
             scaler: Dict[str, Any]) -> None:
        save_checkpoint(self.path, {
            "fingerprint": config_fingerprint(self.config),
            "config": self.config,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler_state(self.scheduler),
            "state": vars(state),
            "rng": rng,
            "observers": [obs.state_dict() for obs in observers],
            "scaler": scaler,
        })

    def restore(self, payload: Dict[str, Any]) -> Dict[str, Any]:
        """Load weights and optimizer state; returns what `fit` needs to continue."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        load_scheduler_state(self.scheduler, payload["scheduler"])
        return {**payload, "state": TrainState(**payload["state"])}


def finished_record(run_dir: Path, config: Dict[str, Any]) -> Dict[str, Any] | None:
    """The stored record if this run directory already holds this configuration, finished."""
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if stored.get("status") not in ("completed", "diverged", "pruned"):
        return None
    if config_fingerprint(stored.get("config", {})) != config_fingerprint(config):
        raise RunAborted(f"{run_dir} already holds a finished run of a different configuration "
                         f"({config_differences(stored.get('config', {}), config)}); use another "
                         "hydra.run.dir, or pass trainer.resume=false to overwrite it")
    return stored


def build_checked(cfg: DictConfig, spec) -> Tuple[nn.Module, List[Regularizer]]:
    """The model and regularizers for `spec`'s data; settings only the built model can judge
    (a LeNet variant, PSP site names) fail here as RunAborted, before any training."""
    try:
        regularizers = build_regularizers(cfg.reg)
        model = build_model(cfg.model, spec.channels, spec.num_classes, spec.image_size,
                            arch_options(cfg.model, regularizers))
        for reg in regularizers:
            reg.check(model)
    except (ValueError, KeyError) as err:
        raise RunAborted(str(err.args[0]) if err.args else repr(err)) from err
    return model, regularizers


def _stopped(record: RunRecord, result, summary: Dict[str, Any], ckpt_path: Path) -> Dict[str, Any]:
    """Finish a run an observer stopped (C1): its status, reason and the summary so far."""
    st = result.state
    best_row = next((r for r in st.history if r["epoch"] == st.best_epoch), {})
    record.finish(result.status, stop_reason=result.stop_reason, best_epoch=st.best_epoch,
                  best_val_acc=best_row.get("val_acc"), best_val_loss=best_row.get("val_loss"),
                  **summary)
    ckpt_path.unlink(missing_ok=True)
    return record.data


def train_run(cfg: DictConfig, run_dir: Path, overrides: List[str], *,
              extra_observers: Sequence[Observer] = ()) -> Dict[str, Any]:
    """Train one configuration into `run_dir` (continuing a checkpoint there); returns the record."""
    device = prepare(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    ckpt_path = run_dir / CHECKPOINT_FILE
    payload = None
    if cfg.trainer.resume:
        stored = finished_record(run_dir, config)
        if stored is not None:
            log.info("%s already finished (%s); not retraining. Pass trainer.resume=false to "
                     "train it again.", run_dir, stored["status"])
            return stored
        if ckpt_path.is_file():
            try:
                payload = load_checkpoint(ckpt_path, config)
            except CheckpointError as err:
                raise RunAborted(str(err)) from err
    tune_malloc()
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    try:
        data = load_data(cfg.dataset, device)
    except DataNotFoundError as err:
        raise RunAborted(str(err)) from err

    spec = data.spec
    model, regularizers = build_checked(cfg, spec)
    model = model.to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.trainer.compile:
        model.compile()  # in place: state_dict keys, checkpoints and sites stay those of `model`
    optimizer = build_optimizer(cfg.optim, model, regularizers)
    scheduler = build_scheduler(cfg.sched, optimizer, cfg.trainer.epochs)
    checkpointer = RunCheckpointer(ckpt_path, config, model, optimizer, scheduler)
    resume = checkpointer.restore(payload) if payload is not None else None

    meta = _run_meta(cfg, overrides)
    meta.update(device=str(device), num_params=sum(p.numel() for p in model.parameters()),
                train_size=len(data.train), val_size=len(data.val) if data.val else 0,
                test_size=len(data.test))
    if resume is not None:
        meta.update(history=list(resume["state"].history), resumed_at_epoch=resume["state"].epoch)
        log.info("resuming %s from its checkpoint after epoch %d (step %d)", run_dir,
                 resume["state"].epoch, resume["state"].step)
    record = RunRecord(run_dir, meta)
    tb = TBLogger(run_dir / "tb")
    observers = build_observers(cfg, model, run_dir, tb,
                                steps_per_epoch=-(-len(data.train) // cfg.trainer.batch_size))
    observers += list(extra_observers)
    log.info("%s on %s (%d params) on %s: %d train / %d val / %d test images",
             cfg.model.name, cfg.dataset.name, meta["num_params"], device,
             meta["train_size"], meta["val_size"], meta["test_size"])

    def on_epoch(row: Dict[str, Any]) -> None:
        record.add_epoch(row)
        tb.scalars({f"{k.split('_', 1)[0]}/{k.split('_', 1)[1]}": v for k, v in row.items()
                    if k.startswith(("train_", "val_")) and isinstance(v, float)}, row["epoch"])
        tb.scalars({"lr": row["lr"]}, row["epoch"])
        tb.scalars({k: v for k, v in row.items() if "/" in k and isinstance(v, (int, float))},
                   row["epoch"])

    stop = StopRequest().install()
    try:
        result = fit(cfg, model, data, optimizer, scheduler, regularizers, observers,
                     on_epoch, device, resume=resume, checkpointer=checkpointer, stop=stop)
        for obs in observers:
            obs.on_train_end(result)
        st = result.state
        summary: Dict[str, Any] = {
            "epochs_run": st.epoch, "steps": st.step, "stopped_early": result.stopped_early,
            "train_seconds": round(st.train_seconds, 3),
            "samples_per_s": round(st.samples / max(st.train_seconds, 1e-9), 1),
        }
        if result.status == "diverged":
            record.finish("diverged", diverged_at=result.diverged_at, **summary)
            ckpt_path.unlink(missing_ok=True)
            return record.data
        if result.status != "completed":   # an observer's StopRun (e.g. pruned): no test
            return _stopped(record, result, summary, ckpt_path)
        test = final_test(model, result, data, cfg)
        best_row = next((r for r in st.history if r["epoch"] == st.best_epoch), {})
        final = st.history[-1] if st.history else {}
        summary.update(
            best_epoch=st.best_epoch,
            best_val_acc=best_row.get("val_acc"), best_val_loss=best_row.get("val_loss"),
            final_train_loss=final.get("train_loss"), final_train_acc=final.get("train_acc"),
            final_val_acc=final.get("val_acc"), **test)
        tb.scalars({"test/loss": test["test_loss"], "test/acc": test["test_acc"]}, st.epoch)
        tb.hparams(meta["config"], {"hparam/test_acc": test["test_acc"],
                                    "hparam/best_val_acc": best_row.get("val_acc") or 0.0})
        torch.save(st.best_state, run_dir / "best_model.pt")
        record.finish("completed", **summary)
        ckpt_path.unlink(missing_ok=True)  # the record now marks the run as finished
        log.info("test acc %.4f (best epoch %d; last epoch %.4f); %.0f samples/s; %.1fs",
                 test["test_acc"], st.best_epoch, test["last_test_acc"],
                 summary["samples_per_s"], record.data["wall_time_s"])
    except Exception as err:
        record.finish("failed", error=f"{type(err).__name__}: {err}",
                      traceback=traceback.format_exc(limit=20))
        raise
    except BaseException:  # SIGTERM/SIGUSR2 hand-over, Ctrl-C: resumable from the checkpoint
        record.finish("interrupted")
        raise
    finally:
        stop.uninstall()
        tb.close()
    return record.data
