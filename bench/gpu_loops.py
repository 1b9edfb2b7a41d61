"""Section 3 of the GPU check: training steps/s of regstudy's loop against a minimal
hand-written loop, per model, with and without AMP (bf16) and channels_last.

Both train the model regstudy builds for the config, with the same SGD settings, on the same
CIFAR-shaped random images held on the device. regstudy's side is `regstudy.training.loop.Loop`
itself (with the run's default observers, and without them); its time is the loop's own clock
(`train_seconds`, what metrics.json reports), which ends with the host sync of the last step.
The minimal loop is bench.loops.MinimalLoop, `python -m bench.speed`'s own, timed between two
device synchronizations. A warm-up run first takes the one-off costs (CUDA context, cuDNN
autotuning with cudnn.benchmark, lazy module loading).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch

from .gpu_common import Clock, random_bundle, sync
from .loops import MinimalLoop, Workload

MODELS = ("lenet5", "vgg38", "resnet18")
AMPS = ("none", "bf16")
LOOPS = ("minimal", "regstudy", "regstudy_nodiag")
LOOP_LABELS = {"minimal": "minimal loop", "regstudy": "regstudy Loop (default observers)",
               "regstudy_nodiag": "regstudy Loop (diag and z^2 off)"}


@dataclass
class LoopSettings:
    batch: int = 128
    steps: int = 60        # timed optimizer steps per repetition
    warmup: int = 15       # untimed steps before them
    reps: int = 3          # repetitions; the median is reported


def config_for(model: str, amp: str, channels_last: bool, loop: str, batch: int, device: str):
    """The config `regstudy train` would run this variant with (CIFAR-10 shapes, no schedule)."""
    overrides = [f"model={model}", "dataset=cifar10", "dataset.augment=false", "sched=none",
                 f"trainer.batch_size={batch}", f"trainer.amp={amp}", "trainer.epochs=1",
                 f"trainer.channels_last={str(channels_last).lower()}", f"trainer.device={device}",
                 "trainer.progress=lines"]
    if loop == "regstudy_nodiag":
        overrides += ["diag.enabled=false", "trainer.zsq_every_n_steps=0"]
    from regstudy.config.compose import compose

    return compose(overrides)


def _regstudy_rep(cfg, data, device: torch.device, steps: int, workdir: Path) -> Dict[str, float]:
    """One `Loop.run` of `steps` steps on a fresh model; the run's own observers are built as
    `train_run` builds them."""
    from regstudy.diagnostics.observers import build_observers
    from regstudy.record.tensorboard import TBLogger
    from regstudy.training.loop import Loop
    from regstudy.training.optim import build_optimizer
    from regstudy.training.run import build_checked
    from regstudy.training.runtime import seed_everything

    cfg.trainer.max_steps = steps
    seed_everything(cfg.seed, cfg.trainer.deterministic)
    model, regs = build_checked(cfg, data.spec)
    model = model.to(device)
    if cfg.trainer.channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = build_optimizer(cfg.optim, model, regs)
    run_dir = Path(tempfile.mkdtemp(prefix="fit-", dir=workdir))
    tb = TBLogger(run_dir / "tb")
    per_epoch = -(-len(data.train) // cfg.trainer.batch_size)
    observers = build_observers(cfg, model, run_dir, tb, steps_per_epoch=per_epoch)
    sync(device)
    with Clock(device) as whole:
        result = Loop(cfg, model, data, opt, None, regs, observers, device).run(lambda row: None)
    tb.close()
    last = result.history[-1] if result.history else {}
    return {"seconds": result.state.train_seconds, "fit_seconds": whole.seconds,
            "steps": result.state.step, "loss": last.get("train_loss", float("nan")),
            "status": result.status}


def _minimal_rep(cfg, data, device: torch.device, steps: int) -> Dict[str, float]:
    """bench.speed's minimal loop on this variant's model, memory format and AMP."""
    work = Workload(cfg, [], device, data, [], None, Path(tempfile.gettempdir()))
    loop = MinimalLoop(work, channels_last=bool(cfg.trainer.channels_last), amp=cfg.trainer.amp)
    rep = loop(steps)
    return {"seconds": rep.seconds, "fit_seconds": rep.seconds, "steps": rep.steps,
            "loss": loop.last_loss, "status": "completed"}


def measure_variant(model: str, amp: str, channels_last: bool, loop: str, device: torch.device,
                    s: LoopSettings, workdir: Path, data_cache: Dict[int, Any]) -> Dict[str, Any]:
    """Warm-up, then `s.reps` timed repetitions of one variant; the median's numbers."""
    row: Dict[str, Any] = {"model": model, "amp": amp, "channels_last": channels_last,
                           "loop": loop, "label": LOOP_LABELS[loop]}
    if amp != "none" and device.type != "cuda":
        return {**row, "skipped": "AMP needs CUDA (regstudy refuses trainer.amp on the CPU)"}
    cfg = config_for(model, amp, channels_last, loop, s.batch, device.type)
    n = s.batch * max(s.steps, s.warmup)
    data = data_cache.setdefault(n, random_bundle("cifar10", n, device))
    torch.backends.cudnn.benchmark = device.type == "cuda"   # as regstudy's non-deterministic runs

    def rep(steps: int) -> Dict[str, float]:
        if loop == "minimal":
            return _minimal_rep(cfg, data, device, steps)
        return _regstudy_rep(cfg, data, device, steps, workdir)

    rep(s.warmup)
    reps = [rep(s.steps) for _ in range(s.reps)]
    seconds = statistics.median(r["seconds"] for r in reps)
    return {**row, "steps": s.steps, "batch": s.batch, "reps": len(reps),
            "seconds": [r["seconds"] for r in reps], "fit_seconds": [r["fit_seconds"] for r in reps],
            "steps_per_s": s.steps / seconds, "images_per_s": s.steps * s.batch / seconds,
            "ms_per_step": 1000 * seconds / s.steps, "loss": reps[-1]["loss"],
            "status": reps[-1]["status"], "skipped": None}


def run_loops(device: torch.device, s: LoopSettings, workdir: Path,
              models=MODELS, deadline: Optional[float] = None) -> Dict[str, Any]:
    """Every model x AMP x memory format x loop; variants past `deadline` (time.monotonic)
    are listed as skipped (gpu_check --time-limit)."""
    rows: List[Dict[str, Any]] = []
    for model in models:
        data_cache: Dict[int, Any] = {}
        for amp in AMPS:
            for cl in (False, True):
                for loop in LOOPS:
                    if deadline is not None and time.monotonic() > deadline:
                        rows.append({"model": model, "amp": amp, "channels_last": cl, "loop": loop,
                                     "label": LOOP_LABELS[loop], "skipped": "past --time-limit"})
                        continue
                    rows.append(measure_variant(model, amp, cl, loop, device, s, workdir,
                                                data_cache))
    return {"settings": vars(s), "rows": rows}
