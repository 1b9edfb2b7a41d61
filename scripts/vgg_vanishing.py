"""The vanishing gradient of the coursework VGG_38 on MNIST, and batch norm's fix.

Trains each variant for a few hundred Adam steps and reports, at a few step counts, the
training loss and "conv1 grad": the mean absolute gradient of the first conv's weight.
Without BN, VGG_38's loss stays at ln(10) = 2.303 and its first conv gets gradients of
~1e-18; with BN before or after each activation, or with only 7 convolutions (VGG_08),
it learns. Every variant is built from the config `regstudy train` composes from the
same overrides, with the project's data path, model builder and optimizer, so the
numbers describe what the runner trains.

    REGSTUDY_DATA=../shared/datasets OMP_NUM_THREADS=1 python scripts/vgg_vanishing.py
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Dict, List

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from regstudy.data.datamodule import load_data
from regstudy.data.specs import get_spec
from regstudy.models import build_model
from regstudy.regularizers import build_regularizers
from regstudy.train.optim import build_optimizer
from regstudy.train.run import arch_options
from regstudy.train.runtime import seed_everything

VARIANTS: Dict[str, List[str]] = {
    "vgg38, no BN": ["model=vgg38"],
    "vgg38, BN before act (reg=bn_before_relu)": ["model=vgg38", "reg=bn_before_relu"],
    "vgg38, BN after act (reg=bn_after_relu)": ["model=vgg38", "reg=bn_after_relu"],
    "vgg08, no BN": ["model=vgg08"],
}
LOSS_WINDOW = 10   # the loss "at step N" is the mean over the batches of steps N-9..N


def compose_config(overrides: List[str]):
    """The config `regstudy train OVERRIDES` would run with."""
    from hydra import compose, initialize_config_dir

    from regstudy.config.schema import register_configs
    from regstudy.paths import config_dir

    register_configs()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


def measure(cfg, checkpoints: List[int]) -> Dict[str, float]:
    """Train `max(checkpoints)` steps; loss and first-conv mean |grad| at each checkpoint."""
    seed_everything(cfg.seed, deterministic=False)
    device = torch.device("cpu")
    data = load_data(cfg.dataset, device)
    regs = build_regularizers(cfg.reg)
    spec = data.spec
    model = build_model(cfg.model, spec.channels, spec.num_classes, spec.image_size,
                        arch_options(cfg.model, regs))
    optimizer = build_optimizer(cfg.optim, model, regs)
    conv = first_conv(model)
    batches = data.train.batches(cfg.trainer.batch_size, torch.Generator().manual_seed(cfg.seed))
    losses: List[float] = []
    row: Dict[str, float] = {}
    model.train()
    for step, (x, y) in enumerate(batches, start=1):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step in checkpoints:
            row[f"loss@{step}"] = sum(losses[-LOSS_WINDOW:]) / len(losses[-LOSS_WINDOW:])
            row[f"conv1 grad@{step}"] = conv.weight.grad.abs().mean().item()
        if step == max(checkpoints):
            return row
    raise ValueError(f"only {step} batches of data for {max(checkpoints)} steps: raise --subset")


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoints", type=int, nargs="+", default=[50, 100, 200],
                    help="step counts to report (the largest is how long each variant trains)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = ap.parse_args(argv)
    steps = max(args.checkpoints)
    common = [f"dataset={args.dataset}", "optim=adam", f"optim.lr={args.lr}",
              f"trainer.batch_size={args.batch_size}", f"dataset.subset={steps * args.batch_size}",
              f"seed={args.seed}"]
    configs = {name: compose_config(VARIANTS[name] + common) for name in args.variants}
    rows = []
    for name, cfg in configs.items():
        start = time.perf_counter()
        rows.append({"variant": name, **measure(cfg, sorted(args.checkpoints))})
        print(f"{rows[-1]} ({time.perf_counter() - start:.0f}s)", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).set_index("variant")
    chance = math.log(get_spec(args.dataset).num_classes)
    print(f"ln(classes) = {chance:.3f}; common overrides: {' '.join(common)}\n")
    print(table.to_markdown(floatfmt=".4g"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
