"""`regstudy probe [OVERRIDE...]`: measure a model at initialization, no training.

Model overrides are the same as `regstudy train`'s (composed from the same configs with Hydra's
compose API); options of the probe itself are `probe.KEY=VALUE` (regstudy.config.schema.ProbeConfig).
"""

from __future__ import annotations

import sys
from itertools import islice
from typing import TYPE_CHECKING, List, Tuple

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config.choices import INITS
from ..config.schema import ProbeConfig

if TYPE_CHECKING:  # torch is imported only once the options are known to be valid
    import torch

    from ..diagnostics.probe import Check

USAGE = """usage: regstudy probe [OVERRIDE...] [probe.KEY=VALUE...]

Pushes a few batches forward and backward through the model at initialization and prints
per conv/linear layer: output variance, activation input (pre-activation) and output
variance, their layer-to-layer ratio and mean |grad| of the weight. Theory checks print
measurements beside closed forms with standard errors (z = difference / standard error).

  regstudy probe model=vgg38 model.init=kaiming_normal probe.figure=probe.png
  regstudy probe model=vgg38 probe.input=gaussian
  regstudy probe probe.checks=[init,dropout,variance_shift] probe.p=0.3

probe options (defaults):
  probe.checks=[model]   model | init (deep plain ReLU MLP) | dropout | variance_shift
  probe.input=data       data (shuffled training batches) | gaussian (standard-normal inputs)
  probe.batches=4 probe.batch_size=128
  probe.figure=          path of a figure with the per-layer and theory panels
  probe.width=512 probe.depth=20 probe.samples=1000
  probe.inits=[kaiming_normal,lecun_normal,uniform_fan_in]
  probe.p=0.5 probe.in_dim=1024 probe.units=512 probe.dropout_samples=4000
"""

CHECK_NAMES = ("model", "init", "dropout", "variance_shift")
INPUTS = ("data", "gaussian")


class ProbeError(ValueError):
    """Bad probe options or overrides (message: one line per problem)."""


def split_args(argv: List[str]) -> Tuple[List[str], List[str]]:
    """(probe.* options, everything else = overrides of the training config)."""
    probe = [a for a in argv if a.startswith("probe.")]
    return probe, [a for a in argv if not a.startswith("probe.")]


def probe_options(args: List[str]) -> DictConfig:
    """The probe's options, type-checked against ProbeConfig, then range-checked."""
    try:
        opts = OmegaConf.merge(OmegaConf.structured(ProbeConfig),
                               OmegaConf.from_dotlist([a[len("probe."):] for a in args]))
    except OmegaConfBaseException as err:
        raise ProbeError(f"bad probe option: {str(err).splitlines()[0]}") from None
    errors = [f"probe.checks: {c!r} is not one of {', '.join(CHECK_NAMES)}"
              for c in opts.checks if c not in CHECK_NAMES]
    errors += [f"probe.inits: {i!r} has no closed form; choose from kaiming_normal, lecun_normal, "
               "xavier_normal, xavier_uniform, uniform_fan_in, default"
               for i in opts.inits if i not in INITS]
    if opts.input not in INPUTS:
        errors.append(f"probe.input={opts.input!r} is not one of {', '.join(INPUTS)}")
    for key in ("batches", "batch_size", "width", "depth", "samples", "in_dim", "units",
                "dropout_samples"):
        if opts[key] <= 0:
            errors.append(f"probe.{key}={opts[key]} must be > 0")
    if not 0 <= opts.p < 1:
        errors.append(f"probe.p={opts.p} must be a probability in [0, 1)")
    if opts.units > opts.in_dim:
        errors.append(f"probe.units={opts.units} must be <= probe.in_dim={opts.in_dim} "
                      "(W needs orthonormal rows)")
    if errors:
        raise ProbeError("\n".join(errors))
    return opts


def compose_train_config(overrides: List[str]) -> DictConfig:
    """The training config `regstudy train OVERRIDES` would run, without starting a job."""
    from hydra.errors import HydraException

    from ..config.compose import compose
    from ..config.errors import added_key_problem, composition_line

    problem = added_key_problem(overrides)
    if problem:
        raise ProbeError(problem)
    try:
        return compose(overrides, job_name="probe")
    except (HydraException, OmegaConfBaseException) as err:
        raise ProbeError(composition_line(err) or str(err).strip()) from None


def probe_model(cfg: DictConfig, opts: DictConfig, gen: torch.Generator) -> Check:
    """Build the configured model exactly as training would and trace a few batches."""
    import torch

    from ..data.datamodule import load_data
    from ..data.decode import DataNotFoundError
    from ..data.specs import get_spec
    from ..diagnostics.probe import model_check
    from ..training.run import RunAborted, arch_options, build_checked, prepare

    spec = get_spec(cfg.dataset.name)
    try:
        device = prepare(cfg)
        model, regularizers = build_checked(cfg, spec)
    except RunAborted as err:
        raise ProbeError(str(err)) from None
    model = model.to(device)
    arch = arch_options(cfg.model, regularizers)
    if opts.input == "gaussian":
        shape = (opts.batch_size, spec.channels, spec.image_size, spec.image_size)
        batches = [(torch.randn(shape, generator=gen).to(device),
                    torch.randint(0, spec.num_classes, (opts.batch_size,), generator=gen).to(device))
                   for _ in range(opts.batches)]
    else:
        try:
            data = load_data(cfg.dataset, device)
        except DataNotFoundError as err:
            raise ProbeError(f"{err} (or probe with probe.input=gaussian)") from None
        batches = list(islice(data.train.batches(opts.batch_size, gen), opts.batches))
    title = (f"{cfg.model.name} at initialization (init={arch.init}, norm={arch.norm}, "
             f"input={opts.input})")
    return model_check(model, batches, title)


def run_checks(cfg: DictConfig, opts: DictConfig) -> List[Check]:
    import torch

    from ..diagnostics.probe import dropout_check, init_check, variance_shift_check

    gen = torch.Generator().manual_seed(cfg.seed)
    checks = []
    for name in opts.checks:
        if name == "model":
            checks.append(probe_model(cfg, opts, gen))
        elif name == "init":
            checks.append(init_check(opts.width, opts.depth, opts.samples, list(opts.inits), gen))
        elif name == "dropout":
            checks.append(dropout_check(opts.in_dim, opts.units, opts.dropout_samples, opts.p, gen))
        else:
            checks.append(variance_shift_check(opts.in_dim, opts.units, opts.dropout_samples,
                                               opts.p, opts.batch_size, gen))
    return checks


def main(argv: List[str]) -> int:
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE, end="")
        return 0
    probe_args, overrides = split_args(argv)
    try:
        opts = probe_options(probe_args)
        cfg = compose_train_config(overrides)
        from ..diagnostics.probe import format_check
        from ..report.plots import probe_figure, save_figure
        from ..training.runtime import seed_everything

        seed_everything(cfg.seed, False)
        checks = run_checks(cfg, opts)
    except ProbeError as err:
        print(f"regstudy probe: error: {err}", file=sys.stderr)
        return 2
    for check in checks:
        print(format_check(check))
    if opts.figure:
        fig = probe_figure(checks)
        if fig is None:
            print("regstudy probe: the checks asked for have no figure", file=sys.stderr)
        else:
            print(f"figure: {save_figure(fig, opts.figure)}")
    return 0
