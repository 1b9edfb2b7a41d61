"""Section 4 of the GPU check: does training several small models at once pay?

S copies of LeNet5 (e.g. S seeds of one experiment) are trained three ways, and each is given
as per-model optimizer steps per second:
- alone: one model, a plain loop (the reference);
- fused: the S copies as one vectorized model, parameters stacked along a new leading
  dimension (`torch.func.stack_module_state`) and the forward pass vmapped over it
  (`torch.func.functional_call` + `torch.func.vmap`), one optimizer over the stacked tensors;
- processes: S separate processes, each training one model, sharing the device.

Stacking is exact: the summed loss of the copies has, per copy, the gradient of that copy's own
loss, and SGD with momentum acts elementwise, so copy i of the stack follows the same path as a
model trained alone from the same initialization on the same batches (`check_equivalence`).
"""

from __future__ import annotations

import copy
import multiprocessing as mp
import threading
import time
from contextlib import contextmanager
from typing import Any, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .gpu_common import Clock, sync

IMAGE = (1, 28, 28)        # MNIST-shaped inputs
CLASSES = 10
LR, MOMENTUM = 0.05, 0.9   # regstudy's default SGD


def lenet_copies(count: int, device: torch.device, seed: int = 0) -> List[nn.Module]:
    """`count` LeNet5s as regstudy builds them (default config), copy i initialized from seed+i."""
    from regstudy.config.compose import compose
    from regstudy.models import build_model

    model_cfg = compose(["model=lenet5"]).model
    models = []
    for i in range(count):
        torch.manual_seed(seed + i)
        models.append(build_model(model_cfg, IMAGE[0], CLASSES, IMAGE[1]).to(device))
    return models


class StackedCopies:
    """S models of one architecture as one: every parameter and buffer gets a leading
    dimension of size S, and the forward pass is vmapped over it."""

    def __init__(self, models: Sequence[nn.Module]) -> None:
        from torch.func import stack_module_state

        params, buffers = stack_module_state(list(models))
        self.params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
        self.buffers = buffers
        self.base = copy.deepcopy(models[0]).to("meta")   # the architecture, without storage
        self.count = len(models)

    def parameters(self) -> List[torch.Tensor]:
        return list(self.params.values())

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: S x B x C x H x W (a batch per copy) -> S x B x classes."""
        from torch.func import functional_call, vmap

        def one(params, buffers, xb):
            return functional_call(self.base, (params, buffers), (xb,))

        return vmap(one, randomness="different")(self.params, self.buffers, x)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each copy's mean cross-entropy on its own batch: a vector of S losses."""
        out = self(x).float()
        s, b, k = out.shape
        return F.cross_entropy(out.reshape(s * b, k), y.reshape(s * b),
                               reduction="none").view(s, b).mean(1)


def sgd(params) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=LR, momentum=MOMENTUM)


@contextmanager
def full_fp32() -> Iterator[None]:
    """No TF32 in convolutions and matrix products while comparing, so differences are
    float32 rounding, not reduced-precision arithmetic."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check_equivalence(copies: int, device: torch.device, steps: int = 3, batch: int = 16,
                      seed: int = 0) -> Dict[str, float]:
    """Train `copies` models separately and as one stack from the same initializations on the
    same per-copy batches; the largest relative differences of losses, gradients (every step)
    and final parameters. Float32 rounding gives ~1e-6; a wrong stacking gives O(1)."""
    separate = lenet_copies(copies, device, seed)
    stack = StackedCopies([copy.deepcopy(m) for m in separate])
    opts, fused_opt = [sgd(m.parameters()) for m in separate], sgd(stack.parameters())
    gen = torch.Generator().manual_seed(seed)
    worst = {"loss": 0.0, "grad": 0.0, "param": 0.0}
    with full_fp32():
        for _ in range(steps):
            x = torch.randn(copies, batch, *IMAGE, generator=gen).to(device)
            y = torch.randint(0, CLASSES, (copies, batch), generator=gen).to(device)
            fused_opt.zero_grad()
            losses = stack.losses(x, y)
            losses.sum().backward()
            for i, (model, opt) in enumerate(zip(separate, opts)):
                opt.zero_grad()
                loss = F.cross_entropy(model(x[i]).float(), y[i])
                loss.backward()
                worst["loss"] = max(worst["loss"], _rel(losses[i].detach(), loss.detach()))
                for name, p in model.named_parameters():
                    worst["grad"] = max(worst["grad"], _rel(stack.params[name].grad[i], p.grad))
                opt.step()
            fused_opt.step()
    for i, model in enumerate(separate):
        for name, p in model.named_parameters():
            worst["param"] = max(worst["param"], _rel(stack.params[name].detach()[i], p.detach()))
    return {"copies": copies, "steps": steps, **{f"max_rel_diff_{k}": v for k, v in worst.items()}}


def _random_mnist(n: int, device: torch.device, seed: int) -> tuple:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, *IMAGE, generator=gen).to(device),
            torch.randint(0, CLASSES, (n,), generator=gen).to(device))


def time_alone(device: torch.device, steps: int, warmup: int, batch: int, seed: int = 0,
               barrier: Any = None) -> Dict[str, float]:
    """One model, a plain loop on device-resident random MNIST-shaped batches. With `barrier`
    (separate processes) every process starts its timed steps together."""
    model = lenet_copies(1, device, seed)[0]
    opt = sgd(model.parameters())
    x, y = _random_mnist(batch * 8, device, seed)

    def run(n: int) -> torch.Tensor:
        loss = torch.zeros(())
        for i in range(n):
            idx = slice((i % 8) * batch, (i % 8 + 1) * batch)
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.detach()

    run(warmup)
    sync(device)
    if barrier is not None:
        barrier.wait()
    with Clock(device) as clock:
        loss = run(steps)
    return {"seconds": clock.seconds, "steps": steps, "loss": float(loss)}


def time_fused(copies: int, device: torch.device, steps: int, warmup: int,
               batch: int, seed: int = 0) -> Dict[str, float]:
    """S copies as one stacked model, each on its own batch of the same size as `alone`'s."""
    stack = StackedCopies(lenet_copies(copies, device, seed))
    opt = sgd(stack.parameters())
    x, y = _random_mnist(batch * 8 * copies, device, seed)
    x, y = x.view(8, copies, batch, *IMAGE), y.view(8, copies, batch)

    def run(n: int) -> torch.Tensor:
        losses = torch.zeros(copies)
        for i in range(n):
            losses = stack.losses(x[i % 8], y[i % 8])
            opt.zero_grad(set_to_none=True)
            losses.sum().backward()
            opt.step()
        return losses.detach()

    run(warmup)
    with Clock(device) as clock:
        losses = run(steps)
    return {"seconds": clock.seconds, "steps": steps, "loss": float(losses.mean())}


def _process_main(rank: int, device: str, steps: int, warmup: int, batch: int, threads: int,
                  barrier: Any, results: Any) -> None:
    """Body of one separate process (spawned: it imports torch and sets up its own context)."""
    try:
        torch.set_num_threads(threads)
        out = time_alone(torch.device(device), steps, warmup, batch, seed=rank, barrier=barrier)
        results.put({"rank": rank, **out})
    except BaseException as err:  # reported, never left hanging: the parent waits for S answers
        barrier.abort()
        results.put({"rank": rank, "error": f"{type(err).__name__}: {err}"})


def time_processes(count: int, device: torch.device, steps: int, warmup: int, batch: int,
                   timeout: float = 120.0) -> Dict[str, Any]:
    """`count` processes each training one model at once; per-process and aggregate rates.
    The aggregate clock runs from the common start (a barrier) to the last process's end."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(count + 1, timeout=timeout), ctx.Queue()
    threads = max(1, torch.get_num_threads() // count) if device.type == "cpu" else 1
    procs = [ctx.Process(target=_process_main, daemon=True,
                         args=(r, str(device), steps, warmup, batch, threads, barrier, results))
             for r in range(count)]
    for p in procs:
        p.start()
    try:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:  # a process failed before the start: see its answer
            pass
        t0 = time.perf_counter()
        answers = [results.get(timeout=timeout) for _ in range(count)]
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    errors = [a["error"] for a in answers if "error" in a]
    if errors:
        raise RuntimeError(f"{len(errors)} of {count} processes failed: {errors[0]}")
    return {"wall_seconds": wall, "per_process": sorted(answers, key=lambda a: a["rank"])}


def run_fused(device: torch.device, copies: Sequence[int], steps: int, warmup: int, batch: int,
              processes: bool = True, deadline: Optional[float] = None) -> Dict[str, Any]:
    """The equivalence check on the largest S, then alone / fused / processes for every S."""
    alone = time_alone(device, steps, warmup, batch)
    alone_rate = steps / alone["seconds"]
    rows: List[Dict[str, Any]] = [{"copies": 1, "way": "alone", "model_steps_per_s": alone_rate,
                                   "per_model_steps_per_s": alone_rate, "vs_alone": 1.0,
                                   "loss": alone["loss"]}]
    for s in copies:
        if deadline is not None and time.monotonic() > deadline:
            rows.append({"copies": s, "way": "fused", "skipped": "past --time-limit"})
            continue
        f = time_fused(s, device, steps, warmup, batch)
        rate = steps / f["seconds"]    # each fused step is one step of every copy
        rows.append({"copies": s, "way": "fused", "per_model_steps_per_s": rate,
                     "model_steps_per_s": s * rate, "vs_alone": s * rate / alone_rate,
                     "loss": f["loss"]})
        if not processes or s == 1:   # one process alone is the `alone` row
            continue
        p = time_processes(s, device, steps, warmup, batch)
        per = [steps / a["seconds"] for a in p["per_process"]]
        total = s * steps / p["wall_seconds"]
        rows.append({"copies": s, "way": "processes", "per_model_steps_per_s": sum(per) / s,
                     "model_steps_per_s": total, "vs_alone": total / alone_rate,
                     "loss": sum(a["loss"] for a in p["per_process"]) / s})
    check = check_equivalence(max(copies), device)
    return {"settings": {"copies": list(copies), "steps": steps, "warmup": warmup,
                         "batch": batch, "image": list(IMAGE)},
            "equivalence": check, "rows": rows}
