"""One run, end to end: config -> build -> loop -> record. Called by `regstudy train`."""

from __future__ import annotations

import logging
import platform
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import nn

from .. import __version__
from ..config.validate import ConfigError, check
from ..data.datamodule import DataBundle, load_data
from ..data.decode import DataNotFoundError
from ..models import ArchOptions, available_models, build_model
from ..observer import Observer
from ..provenance import source_commit
from ..record.aside import set_aside_previous
from ..record.lock import RunLock
from ..record.run_record import MISSING, RecordWriter, RunRecord
from ..record.tensorboard import TBLogger
from ..regularizers import Regularizer, build_regularizers
from .checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    config_differences,
    config_fingerprint,
    load_checkpoint,
    load_scheduler_state,
    save_checkpoint,
    scheduler_state,
)
from .faults import maybe_fail
from .loop import Checkpointer, Loop, LoopResult, TrainState, final_test
from .optim import build_optimizer, build_scheduler
from .runtime import DeviceError, apply_threads, pick_device, seed_everything, tune_malloc
from .signals import StopRequest

log = logging.getLogger("regstudy")


# Statuses of a run that ended for good: a re-run of the same configuration does not retrain it.


class RunAborted(Exception):
    """The run stopped before training for a reason the user can fix (message says how)."""


def arch_options(model_cfg, regularizers) -> ArchOptions:
    """The model's own architecture choices, then each regularizer's switches on top."""
    opts = ArchOptions(activation=model_cfg.activation, leaky_slope=model_cfg.leaky_slope,
                       norm=model_cfg.norm, init=model_cfg.init)
    for reg in regularizers:
        opts = reg.arch(opts)
    return opts


def _run_meta(cfg: DictConfig, overrides: List[str]) -> Dict[str, Any]:
    return {
        "regstudy_version": __version__,
        "git_commit": source_commit(),
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
        """Load weights and optimizer state; returns what `Loop.restore` needs to continue."""
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        load_scheduler_state(self.scheduler, payload["scheduler"])
        return {**payload, "state": TrainState(**payload["state"])}


def finished_record(run_dir: Path, config: Dict[str, Any]) -> Dict[str, Any] | None:
    """The stored record if this run directory already holds this configuration, finished."""
    stored = RunRecord.load(run_dir)
    if stored.status == MISSING:
        return None
    if not stored.readable:
        log.warning("%s cannot be read (%s); training this run again", run_dir, stored.problem)
        return None
    if not stored.finished:
        return None
    if config_fingerprint(stored.config) != config_fingerprint(config):
        raise RunAborted(f"{run_dir} already holds a finished run of a different configuration "
                         f"({config_differences(stored.config, config)}); use another "
                         "hydra.run.dir, or pass trainer.resume=false to overwrite it")
    return stored.data


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


def train_run(cfg: DictConfig, run_dir: Path | str, overrides: List[str], *,
              extra_observers: Sequence[Observer] = (), data: Optional[DataBundle] = None,
              tune_allocator: bool = True,
              wrap_observer: Optional[Callable[[Observer], Observer]] = None,
              tb_name: str = "", loop_class: type = Loop, lock: str = "auto") -> Dict[str, Any]:
    """Train one configuration into `run_dir` (continuing a checkpoint there); returns the record.

    Keyword seams, so searches and benchmarks vary a run without patching internals:
    `extra_observers` watch after the built-in ones (a pruner may raise StopRun); `data` is used
    instead of loading `cfg.dataset` (it must be what that config loads); `tune_allocator=False`
    keeps glibc's malloc thresholds; `wrap_observer` wraps each built-in observer (a timer);
    `tb_name` puts the TensorBoard events in tb/<tb_name>, the run's name in TensorBoard;
    `loop_class` is a `Loop` subclass to train with (a benchmark's clocks around its methods);
    `lock` is the run-directory lock's mechanism (regstudy.record.lock: auto, flock, lease).

    The run owns `run_dir` while it trains: a second process raises RunLocked instead of
    training it too. SIGTERM/SIGUSR2 are caught from the moment the lock is held, so a stop
    during start-up still ends as `interrupted` with a checkpoint."""
    run_dir = Path(run_dir)
    device = prepare(cfg)
    with open_dict(cfg):  # the resolved number goes into the record: re-running it reproduces
        cfg.trainer.threads = apply_threads(cfg.trainer.threads)
    config = OmegaConf.to_container(cfg, resolve=True)
    with RunLock(run_dir, lock):
        stop = StopRequest().install()
        maybe_fail("start")
        try:
            stored, payload = previous_run(cfg, run_dir, config)
            if stored is not None:
                return stored
            if payload is None:
                set_aside_previous(run_dir)
            return _train_owned(cfg, run_dir, overrides, config, payload, stop, RunParts(
                extra_observers, data, tune_allocator, wrap_observer, tb_name, loop_class,
                device))
        finally:
            stop.uninstall()


@dataclass
class RunParts:
    """train_run's keyword seams and the device, handed on to the part that trains."""

    extra_observers: Sequence[Observer]
    data: Optional[DataBundle]
    tune_allocator: bool
    wrap_observer: Optional[Callable[[Observer], Observer]]
    tb_name: str
    loop_class: type
    device: torch.device


def _train_owned(cfg: DictConfig, run_dir: Path, overrides: List[str], config: Dict[str, Any],
                 payload: Optional[Dict[str, Any]], stop: StopRequest,
                 parts: RunParts) -> Dict[str, Any]:
    """Build, restore and train (the directory is locked and the stop request installed)."""
    device = parts.device
    if parts.tune_allocator:
        tune_malloc()
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    data = parts.data if parts.data is not None else load_checked(cfg, device)
    model, regularizers, optimizer, scheduler = build_parts(cfg, data, device)
    checkpointer = RunCheckpointer(run_dir / CHECKPOINT_FILE, config, model, optimizer, scheduler)
    resume = checkpointer.restore(payload) if payload is not None else None
    record = start_record(cfg, overrides, run_dir, model, data, device, resume)
    tb = TBLogger(run_dir / "tb" / parts.tb_name if parts.tb_name else run_dir / "tb")
    observers = run_observers(cfg, model, run_dir, tb, len(data.train), parts.wrap_observer)
    stop.on_stop = lambda: record.finish("interrupted")   # before a hand-over to submitit
    loop = parts.loop_class(cfg, model, data, optimizer, scheduler, regularizers,
                            [*observers, *parts.extra_observers], device, checkpointer, stop)
    if resume is not None:
        loop.restore(resume)
    try:
        result = loop.run(lambda row: record_epoch(record, tb, row))
        for obs in loop.observers:
            obs.on_train_end(result)
        finish(result, record, tb, model, data, cfg)
    except Exception as err:
        record_error(record, err, stopped=bool(stop))
        raise
    except BaseException:  # SIGTERM/SIGUSR2 hand-over, Ctrl-C: resumable from the checkpoint
        record.finish("interrupted")
        raise
    finally:
        tb.close()
    return record.data


def record_error(record: RecordWriter, err: Exception, stopped: bool) -> None:
    """`failed` with the error, or `interrupted` when a signal stopped the run and the hand-over
    raised (submitit declining to requeue: "timed-out too many times"); the checkpoint is kept
    either way, so re-running the command resumes it."""
    error = f"{type(err).__name__}: {err}"
    if stopped:
        record.finish("interrupted", error=error)
    else:
        record.finish("failed", error=error, traceback=traceback.format_exc(limit=20))


def previous_run(cfg: DictConfig, run_dir: Path, config: Dict[str, Any]
                 ) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]]]:
    """(the stored record of a finished run here, None) or (None, a checkpoint to continue or
    None); both None when `trainer.resume` is false."""
    if not cfg.trainer.resume:
        return None, None
    stored = finished_record(run_dir, config)
    if stored is not None:
        log.info("%s already finished (%s); not retraining. Pass trainer.resume=false to "
                 "train it again.", run_dir, stored["status"])
        return stored, None
    ckpt_path = run_dir / CHECKPOINT_FILE
    if not ckpt_path.is_file():
        return None, None
    try:
        return None, load_checkpoint(ckpt_path, config)
    except CheckpointError as err:
        raise RunAborted(str(err)) from err


def load_checked(cfg: DictConfig, device: torch.device) -> DataBundle:
    try:
        return load_data(cfg.dataset, device)
    except DataNotFoundError as err:
        raise RunAborted(str(err)) from err


def build_parts(cfg: DictConfig, data: DataBundle, device: torch.device):
    """Model (on `device`, channels-last and compiled as configured), regularizers, optimizer
    and scheduler."""
    model, regularizers = build_checked(cfg, data.spec)
    model = model.to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cfg.trainer.compile:
        model.compile()  # in place: state_dict keys, checkpoints and sites stay those of `model`
    optimizer = build_optimizer(cfg.optim, model, regularizers)
    scheduler = build_scheduler(cfg.sched, optimizer, cfg.trainer.epochs)
    return model, regularizers, optimizer, scheduler


def start_record(cfg: DictConfig, overrides: List[str], run_dir: Path, model: nn.Module,
                 data: DataBundle, device: torch.device,
                 resume: Optional[Dict[str, Any]]) -> RecordWriter:
    """metrics.json with status `running`: the config and what the run is made of."""
    meta = _run_meta(cfg, overrides)
    meta.update(device=str(device), num_params=sum(p.numel() for p in model.parameters()),
                train_size=len(data.train), val_size=len(data.val) if data.val else 0,
                test_size=len(data.test))
    earlier_s = 0.0
    if resume is not None:
        state = resume["state"]
        meta.update(history=list(state.history), resumed_at_epoch=state.epoch)
        earlier_s = earlier_wall_seconds(run_dir, state)
        where = (f"inside epoch {state.epoch + 1} (step {state.step}, batch "
                 f"{state.partial['batches_done']})" if state.partial else
                 f"after epoch {state.epoch} (step {state.step})")
        log.info("resuming %s from its checkpoint %s", run_dir, where)
    log.info("%s on %s (%d params) on %s, %d torch threads: %d train / %d val / %d test images",
             cfg.model.name, cfg.dataset.name, meta["num_params"], device, cfg.trainer.threads,
             meta["train_size"], meta["val_size"], meta["test_size"])
    run_dir.mkdir(parents=True, exist_ok=True)   # Hydra made it; a direct caller may not have
    return RecordWriter(run_dir, meta, earlier_s=earlier_s)


def earlier_wall_seconds(run_dir: Path, state: TrainState) -> float:
    """Wall time the run spent before this resume: the interrupted record's `wall_time_s`, and
    never less than the training time the checkpoint holds (a SIGKILL can outrun the record)."""
    trained = state.train_seconds + (state.partial or {}).get("elapsed", 0.0)
    try:
        stored = float(RunRecord.load(run_dir).get("wall_time_s") or 0)
    except (ValueError, TypeError):
        stored = 0.0
    return max(stored, trained)


def run_observers(cfg: DictConfig, model: nn.Module, run_dir: Path, tb: TBLogger,
                  train_size: int, wrap: Optional[Callable[[Observer], Observer]]
                  ) -> List[Observer]:
    from ..diagnostics.observers import build_observers

    steps_per_epoch = -(-train_size // cfg.trainer.batch_size)
    observers = build_observers(cfg, model, run_dir, tb, steps_per_epoch)
    return [wrap(obs) for obs in observers] if wrap is not None else observers


def record_epoch(record: RecordWriter, tb: TBLogger, row: Dict[str, Any]) -> None:
    """One finished epoch into metrics.json/history.csv and TensorBoard."""
    record.add_epoch(row)
    tb.scalars({f"{k.split('_', 1)[0]}/{k.split('_', 1)[1]}": v for k, v in row.items()
                if k.startswith(("train_", "val_")) and isinstance(v, float)}, row["epoch"])
    tb.scalars({"lr": row["lr"]}, row["epoch"])
    tb.scalars({k: v for k, v in row.items() if "/" in k and isinstance(v, (int, float))},
               row["epoch"])


def _summary(result: LoopResult) -> Dict[str, Any]:
    st = result.state
    return {"epochs_run": st.epoch, "steps": st.step, "stopped_early": result.stopped_early,
            "train_seconds": round(st.train_seconds, 3),
            "samples_per_s": round(st.samples / max(st.train_seconds, 1e-9), 1)}


def _best(st: TrainState) -> Dict[str, Any]:
    best_row = next((r for r in st.history if r["epoch"] == st.best_epoch), {})
    return {"best_epoch": st.best_epoch, "best_val_acc": best_row.get("val_acc"),
            "best_val_loss": best_row.get("val_loss")}


def finish(result: LoopResult, record: RecordWriter, tb: TBLogger, model: nn.Module,
           data: DataBundle, cfg: DictConfig) -> None:
    """The record's final status: diverged, stopped by an observer (e.g. pruned: the summary so
    far, no test), or completed with test metrics; the checkpoint goes in every case."""
    ckpt_path = record.run_dir / CHECKPOINT_FILE
    if result.status == "diverged":
        record.finish("diverged", diverged_at=result.diverged_at, **_summary(result))
    elif result.status != "completed":
        record.finish(result.status, stop_reason=result.stop_reason, **_summary(result),
                      **_best(result.state))
    else:
        _finish_completed(result, record, tb, model, data, cfg)
    ckpt_path.unlink(missing_ok=True)  # the record now marks the run as finished


def _finish_completed(result: LoopResult, record: RecordWriter, tb: TBLogger, model: nn.Module,
                      data: DataBundle, cfg: DictConfig) -> None:
    st = result.state
    test = final_test(model, result, data, cfg)
    final = st.history[-1] if st.history else {}
    summary = {**_summary(result), **_best(st),
               "final_train_loss": final.get("train_loss"),
               "final_train_acc": final.get("train_acc"), "final_val_acc": final.get("val_acc"),
               **test}
    tb.scalars({"test/loss": test["test_loss"], "test/acc": test["test_acc"]}, st.epoch)
    tb.hparams(record.data["config"], {"hparam/test_acc": test["test_acc"],
                                       "hparam/best_val_acc": summary["best_val_acc"] or 0.0})
    torch.save(st.best_state, record.run_dir / "best_model.pt")
    record.finish("completed", **summary)
    log.info("test acc %.4f (best epoch %d; last epoch %.4f); %.0f samples/s; %.1fs",
             test["test_acc"], st.best_epoch, test["last_test_acc"],
             summary["samples_per_s"], record.data["wall_time_s"])
