"""Range and compatibility checks that a type schema cannot express.

Pure and torch-free: returns one clear line per problem, naming the key and what is allowed.
"""

from __future__ import annotations

from typing import List

from .choices import (
    ACTIVATIONS,
    AMP,
    DROPOUT_PLACES,
    INITS,
    L2_MODES,
    NORMS,
    OPTIMIZERS,
    PROGRESS,
    PSP_REDUCTIONS,
    SCHEDULES,
)


class ConfigError(ValueError):
    """Invalid configuration; the message lists every problem, one per line."""


def _choice(errors: List[str], key: str, value, allowed) -> None:
    if value not in allowed:
        errors.append(f"{key}={value!r} is not allowed; choose one of: {', '.join(map(str, allowed))}")


def _positive(errors: List[str], key: str, value) -> None:
    if not value > 0:
        errors.append(f"{key}={value} must be > 0")


def _nonneg(errors: List[str], key: str, value) -> None:
    if not value >= 0:
        errors.append(f"{key}={value} must be >= 0")


def _probability(errors: List[str], key: str, value) -> None:
    if not 0 <= value < 1:
        errors.append(f"{key}={value} must be a probability in [0, 1)")


def validate(cfg) -> List[str]:
    """Every problem with `cfg`, as one line each (empty when the config is valid)."""
    from ..data.specs import SPECS

    e: List[str] = []
    m, d, o, s, t = cfg.model, cfg.dataset, cfg.optim, cfg.sched, cfg.trainer
    _choice(e, "model.activation", m.activation, ACTIVATIONS)
    _choice(e, "model.init", m.init, INITS)
    _choice(e, "model.norm", m.norm, NORMS)
    _probability(e, "model.dropout", m.dropout)
    _probability(e, "model.input_dropout", m.input_dropout)
    _positive(e, "model.width", m.width)
    _nonneg(e, "model.blocks_per_stage", m.blocks_per_stage)
    _choice(e, "dataset.name", d.name, sorted(SPECS))
    if d.name in SPECS and d.val_size >= SPECS[d.name].train_size:
        e.append(f"dataset.val_size={d.val_size} must be smaller than the "
                 f"{SPECS[d.name].train_size} training images of {d.name}")
    _nonneg(e, "dataset.val_size", d.val_size)
    _nonneg(e, "dataset.subset", d.subset)
    _nonneg(e, "dataset.test_subset", d.test_subset)
    reg = cfg.reg
    if reg.l2 is not None:
        _nonneg(e, "reg.l2.strength", reg.l2.strength)
        _choice(e, "reg.l2.mode", reg.l2.mode, L2_MODES)
    if reg.dropout is not None:
        _probability(e, "reg.dropout.p", reg.dropout.p)
        for w in reg.dropout.where:
            _choice(e, "reg.dropout.where", w, DROPOUT_PLACES)
    if reg.bn is not None:
        _choice(e, "reg.bn.placement", reg.bn.placement, NORMS)
    if reg.psp is not None:
        _nonneg(e, "reg.psp.strength", reg.psp.strength)
        _choice(e, "reg.psp.reduction", reg.psp.reduction, PSP_REDUCTIONS)
    _choice(e, "optim.name", o.name, OPTIMIZERS)
    _positive(e, "optim.lr", o.lr)
    _nonneg(e, "optim.momentum", o.momentum)
    _nonneg(e, "optim.weight_decay", o.weight_decay)
    if o.nesterov and o.momentum <= 0:
        e.append("optim.nesterov=true needs optim.momentum > 0")
    _choice(e, "sched.name", s.name, SCHEDULES)
    _positive(e, "sched.gamma", s.gamma)
    _positive(e, "trainer.epochs", t.epochs)
    _positive(e, "trainer.batch_size", t.batch_size)
    _positive(e, "trainer.eval_batch_size", t.eval_batch_size)
    _positive(e, "trainer.log_every_n_steps", t.log_every_n_steps)
    _nonneg(e, "trainer.max_steps", t.max_steps)
    _nonneg(e, "trainer.threads", t.threads)
    _nonneg(e, "trainer.zsq_every_n_steps", t.zsq_every_n_steps)
    _nonneg(e, "trainer.early_stop_patience", t.early_stop_patience)
    if t.early_stop_patience > 0 and d.val_size <= 0:
        e.append("trainer.early_stop_patience needs a validation set; set dataset.val_size > 0")
    _choice(e, "trainer.amp", t.amp, AMP)
    _positive(e, "trainer.amp_init_scale", t.amp_init_scale)
    _choice(e, "trainer.progress", t.progress, PROGRESS)
    _nonneg(e, "diag.every_n_steps", cfg.diag.every_n_steps)
    _nonneg(e, "diag.hist_every_n_epochs", cfg.diag.hist_every_n_epochs)
    if t.amp != "none" and not str(t.device).startswith(("cuda", "auto")):
        e.append(f"trainer.amp={t.amp} needs CUDA; with trainer.device={t.device} use trainer.amp=none")
    return e


def check(cfg) -> None:
    """Resolve reg shorthands in place, then raise ConfigError listing every problem."""
    from .shorthand import resolve_shorthands

    errors = resolve_shorthands(cfg) + validate(cfg)
    if errors:
        raise ConfigError("\n".join(errors))
