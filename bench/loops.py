"""What `python -m bench.speed` times: regstudy's own run, a minimal hand-written loop, and the
textbook torchvision + DataLoader pipeline.

Every runner trains a fresh model from the same seed, on the same training images, for a
given number of optimizer steps, and returns a `Rep`. Only training is timed (no decoding,
no evaluation), so the three are comparable step for step; regstudy's per-epoch extras
(validation, diagnostics summaries, checkpoint, records) are reported beside it. Each span
is timed twice: wall clock, and CPU seconds of the process (what other work on a shared
machine inflates least).
"""

from __future__ import annotations

import copy
import math
import resource
import shutil
import tempfile
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from regstudy.data.datamodule import DataBundle
from regstudy.models import build_model
from regstudy.training.run import train_run

from .gpu_common import sync


@dataclass
class Rep:
    """One timed repetition of one variant."""

    seconds: float        # training only: first batch fetched to last optimizer step done
    cpu_seconds: float    # CPU time (user + system) of the process, and of finished children
    images: int
    steps: int
    minflt: int           # minor page faults of this process during the timed part
    extra_seconds: float = 0.0   # regstudy only: per-epoch work outside the training clock


@dataclass
class Workload:
    """The inputs every variant shares: composed config, device, decoded training split."""

    cfg: DictConfig                # the base configuration (model, dataset, optim, seed, batch)
    overrides: List[str]           # the overrides that made `cfg` (regstudy variants add theirs)
    device: torch.device
    data: DataBundle               # regstudy's own split: the reference loops train on it too
    train_indices: List[int]       # the same images as indices into torchvision's training set
    torchvision_train: Any         # torchvision's own dataset object for the training files
    workdir: Path                  # scratch space for regstudy's run directories

    @property
    def batch_size(self) -> int:
        return int(self.cfg.trainer.batch_size)

    @property
    def train_size(self) -> int:
        return len(self.data.train)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.train_size / self.batch_size)

    def images_in(self, steps: int) -> int:
        """Images seen in `steps` steps, epochs ending in a short batch as every loop here does."""
        full, rest = divmod(steps, self.steps_per_epoch)
        return full * self.train_size + min(rest * self.batch_size, self.train_size)


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def cpu_seconds() -> float:
    """User + system time of this process and of its reaped children (DataLoader workers)."""
    me, kids = (resource.getrusage(resource.RUSAGE_SELF),
                resource.getrusage(resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


@dataclass
class Span:
    """Wall, CPU and page faults between `start()` and `stop()`."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    minflt: int = 0

    def start(self) -> Span:
        self._t, self._c, self._f = time.perf_counter(), cpu_seconds(), minor_faults()
        return self

    def stop(self) -> Span:
        self.seconds += time.perf_counter() - self._t
        self.cpu_seconds += cpu_seconds() - self._c
        self.minflt += minor_faults() - self._f
        return self


def fresh_model(w: Workload, channels_last: bool) -> nn.Module:
    """The model regstudy builds for this config (activation sites included), seeded alike."""
    torch.manual_seed(w.cfg.seed)
    spec = w.data.spec
    model = build_model(w.cfg.model, spec.channels, spec.num_classes, spec.image_size).to(w.device)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def plain_sgd(w: Workload, model: nn.Module) -> torch.optim.Optimizer:
    o = w.cfg.optim
    return torch.optim.SGD(model.parameters(), lr=o.lr, momentum=o.momentum)


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor,
                yb: torch.Tensor, autocast: Optional[AbstractContextManager] = None) -> torch.Tensor:
    with autocast if autocast is not None else nullcontext():
        loss = F.cross_entropy(model(xb).float(), yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def autocast_for(amp: str) -> AbstractContextManager:
    """CUDA autocast for regstudy's trainer.amp (bf16 | fp16), or nothing for `none`."""
    if amp == "none":
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


class MinimalLoop:
    """The practical limit of eager PyTorch here: float tensors already in memory, index a
    shuffled batch, forward (under autocast with `amp`), cross-entropy, backward, SGD step.
    Nothing else. The GPU check times the same loop (bench.gpu_loops)."""

    def __init__(self, w: Workload, channels_last: bool = False, amp: str = "none") -> None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.w, self.channels_last, self.amp = w, channels_last, amp
        self.x = w.data.train.normalizer(w.data.train.images).contiguous(memory_format=fmt)
        self.y = w.data.train.labels
        self.last_loss = float("nan")   # of the last step of the last call

    def __call__(self, steps: int) -> Rep:
        w = self.w
        model = fresh_model(w, self.channels_last)
        opt = plain_sgd(w, model)
        autocast = autocast_for(self.amp)
        gen = torch.Generator().manual_seed(w.cfg.seed)
        n, bs, done = w.train_size, w.batch_size, 0
        loss = torch.full((), float("nan"))
        sync(w.device)
        span = Span().start()
        while done < steps:
            order = torch.randperm(n, generator=gen).to(w.device)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                loss = _train_step(model, opt, self.x[idx], self.y[idx], autocast)
                done += 1
                if done == steps:
                    break
        sync(w.device)
        span.stop()
        self.last_loss = float(loss.detach())
        return Rep(span.seconds, span.cpu_seconds, w.images_in(steps), steps, span.minflt)


class TextbookPipeline:
    """torchvision's dataset class with transform=Compose([ToTensor(), Normalize]) and
    DataLoader(shuffle=True): what most training scripts do. Per-epoch worker start-up
    is part of an epoch there, so it is part of the time here."""

    def __init__(self, w: Workload, num_workers: int) -> None:
        from torch.utils.data import Subset
        from torchvision import transforms

        spec = w.data.spec
        ds = copy.copy(w.torchvision_train)
        ds.transform = transforms.Compose([transforms.ToTensor(),
                                           transforms.Normalize(spec.mean, spec.std)])
        self.w, self.num_workers = w, num_workers
        self.dataset = Subset(ds, w.train_indices)

    def __call__(self, steps: int) -> Rep:
        from torch.utils.data import DataLoader

        w = self.w
        model = fresh_model(w, False)
        opt = plain_sgd(w, model)
        gen = torch.Generator().manual_seed(w.cfg.seed)
        done = 0
        span = Span().start()
        while done < steps:
            loader = DataLoader(self.dataset, batch_size=w.batch_size, shuffle=True,
                                num_workers=self.num_workers, generator=gen)
            batches = iter(loader)
            for xb, yb in batches:
                _train_step(model, opt, xb.to(w.device), yb.to(w.device))
                done += 1
                if done == steps:
                    break
            del batches  # workers shut down (and are reaped) inside the span, as per epoch
        sync(w.device)
        span.stop()
        return Rep(span.seconds, span.cpu_seconds, w.images_in(steps), steps, span.minflt)


@dataclass
class FitMeasure:
    fit: Span = field(default_factory=Span)        # the whole loop (`Loop.run`)
    training: Span = field(default_factory=Span)   # its training epochs: the loop's own clock


def clocked_loop(out: FitMeasure) -> type:
    """A `Loop` that reads clocks around the real `run` and `train_epoch` (the span the loop's
    own `train_seconds` covers; validation and epoch bookkeeping are left out), passed to
    `train_run(loop_class=...)`. Nothing in regstudy changes."""
    from regstudy.training.loop import Loop

    class ClockedLoop(Loop):
        def run(self, on_epoch):
            out.fit.start()
            try:
                return super().run(on_epoch)
            finally:
                out.fit.stop()

        def train_epoch(self, epoch: int):
            out.training.start()
            try:
                return super().train_epoch(epoch)
            finally:
                out.training.stop()

    return ClockedLoop


class RegstudyRun:
    """regstudy's own `train_run` (what `regstudy train` calls): config checks, data, model,
    the run's default observers, the loop with its default logging, records, evaluation.

    Timed: the training batches' span (what `train_seconds` in metrics.json measures).
    `extra_seconds` is the rest of `Loop.run`: validation, observers' epoch summaries, checkpoint,
    records.
    """

    def __init__(self, w: Workload, overrides: List[str], tune_allocator: bool = True) -> None:
        self.w, self.overrides, self.tune_allocator = w, list(overrides), tune_allocator

    def config_overrides(self, steps: int) -> List[str]:
        epochs = math.ceil(steps / self.w.steps_per_epoch)
        return [*self.w.overrides, *self.overrides,
                f"trainer.max_steps={steps}", f"trainer.epochs={epochs}"]

    def __call__(self, steps: int) -> Rep:
        from omegaconf import OmegaConf

        from regstudy.config.compose import compose

        overrides = self.config_overrides(steps)
        cfg = compose(overrides)
        # decoding is never timed: reuse the workload's data when the dataset config is the same
        same = (OmegaConf.to_container(cfg.dataset, resolve=True)
                == OmegaConf.to_container(self.w.cfg.dataset, resolve=True))
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self.w.workdir))
        fit_measure = FitMeasure()
        try:
            record = train_run(cfg, run_dir, overrides, data=self.w.data if same else None,
                               tune_allocator=self.tune_allocator,
                               loop_class=clocked_loop(fit_measure))
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        if record.get("status") != "completed":
            raise RuntimeError(f"regstudy run {overrides} ended {record.get('status')}: "
                               f"{record.get('error', '')}")
        t, steps = fit_measure.training, int(record["steps"])
        return Rep(t.seconds, t.cpu_seconds, self.w.images_in(steps), steps, t.minflt,
                   extra_seconds=max(fit_measure.fit.seconds - t.seconds, 0.0))


def skip_reason(overrides: List[str]) -> Optional[str]:
    """Why a regstudy variant cannot run on this checkout (a config option or key that does
    not exist yet), or None. Detected by composing the config, exactly as a run would."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from regstudy.config.compose import compose

    try:
        compose(overrides)
    except (HydraException, OmegaConfBaseException) as err:
        return str(err).splitlines()[0]
    return None
