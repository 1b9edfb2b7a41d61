"""Measurements at initialization, without training: how signal and gradient variance travel
through a model, and the three textbook cases `regstudy probe` prints beside closed forms.

Each check returns a `Check`: a table (one row per layer or per quantity), notes, and the raw
numbers its figure panel needs. Tolerances are stated in standard errors estimated from the
sample itself (`std_error`, `z` columns), so a reader can judge agreement at any sample size.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import stats
from torch import nn

from ..models.layers import initialize, make_activation
from ..models.sites import ActSite, Site, record_sites
from . import theory

AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


@contextmanager
def seeded_from(gen: torch.Generator) -> Iterator[None]:
    """Seed torch's global RNG from `gen` for code that only draws from it (module init,
    nn.Dropout), restoring the global state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        yield


@dataclass
class Check:
    kind: str                  # model | init | dropout | variance_shift
    title: str
    table: pd.DataFrame
    notes: List[str] = field(default_factory=list)
    data: Dict[str, Any] = field(default_factory=dict)


# --- the configured model ----------------------------------------------------------------------

def _trace_hooks(model: nn.Module, calls: List[Tuple[str, str, Dict[str, torch.Tensor]]]):
    """Forward hooks that append (name, kind, statistics) for every affine layer and site."""
    handles = []
    for name, mod in model.named_modules():
        if isinstance(mod, AFFINE):
            kind = "affine"
        elif isinstance(mod, Site):
            kind = "act" if isinstance(mod, ActSite) else "logit"
        else:
            continue

        def hook(m, inputs, output, name=name, kind=kind):
            with torch.no_grad():
                if kind == "affine":
                    values = {"var_out": output.float().var()}
                else:
                    values = {"var_z": inputs[0].float().var(),
                              "var_act": output.float().var() if kind == "act"
                              else torch.tensor(float("nan"))}
            calls.append((name, kind, values))
        handles.append(mod.register_forward_hook(hook))
    return handles


def layer_table(model: nn.Module, batches: Iterable[Tuple[torch.Tensor, torch.Tensor]]) -> pd.DataFrame:
    """One row per conv/linear layer in call order, averaged over `batches` (train mode, as the
    first training step sees the net): the variance of its output, of the activation input z
    that follows it (after batch norm, where there is one) and of that activation's output, the
    ratio of z's variance to the previous layer's, and the mean |grad| of its weight under the
    cross-entropy loss. A layer's activation is the first site called after it, which is exact
    for sequential nets; in a residual block the shortcut conv takes the block's last site."""
    model.train()
    modules = dict(model.named_modules())
    per_batch: List[Dict[str, Dict[str, torch.Tensor]]] = []
    grads: Dict[str, List[torch.Tensor]] = {}
    order: List[str] = []
    for xb, yb in batches:
        calls: List[Tuple[str, str, Dict[str, torch.Tensor]]] = []
        handles = _trace_hooks(model, calls)
        try:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(xb), yb).backward()
        finally:
            for h in handles:
                h.remove()
        rows: Dict[str, Dict[str, torch.Tensor]] = {}
        current = None
        for name, kind, values in calls:
            if kind == "affine":
                current = name
                rows[name] = dict(values)
            elif current is not None and "var_z" not in rows[current]:
                rows[current].update(values)  # the first site after a layer is its activation
        order = order or list(rows)
        per_batch.append(rows)
        for name in rows:
            w = modules[name].weight
            grads.setdefault(name, []).append(w.grad.abs().mean() if w.grad is not None
                                              else torch.tensor(float("nan")))
    table = []
    for name in order:
        mod = modules[name]
        cols = {k: float(torch.stack([r[name].get(k, torch.tensor(float("nan")))
                                      for r in per_batch]).mean())
                for k in ("var_out", "var_z", "var_act")}
        table.append({"layer": name, "type": type(mod).__name__, "fan_in": mod.weight[0].numel(),
                      **cols, "grad_abs_mean": float(torch.stack(grads[name]).mean())})
    frame = pd.DataFrame(table)
    frame.insert(frame.columns.get_loc("var_act") + 1, "ratio_z",
                 frame["var_z"] / frame["var_z"].shift(1))
    return frame


def model_check(model: nn.Module, batches: Sequence[Tuple[torch.Tensor, torch.Tensor]],
                title: str) -> Check:
    table = layer_table(model, batches)
    notes = [f"{len(batches)} batches of {batches[0][0].shape[0]}; variances over all elements "
             "of a batch, averaged over batches; ratio_z = var_z / previous layer's var_z"]
    return Check("model", title, table, notes)


# --- initialization: a deep plain ReLU network ---------------------------------------------------

def plain_relu_mlp(width: int, depth: int, init: str) -> nn.Sequential:
    """`depth` bias-free Linear(width, width) + ReLU layers: the setting of the closed forms."""
    layers: List[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width, bias=False), make_activation("relu")]
    net = nn.Sequential(*layers)
    initialize(net, init)
    return net


def preactivation_variances(net: nn.Module, x: torch.Tensor) -> List[float]:
    """Var of every activation's input z for one forward pass of `x` (through the sites)."""
    with torch.no_grad(), record_sites(net) as rec:
        net(x)
        return torch.stack([z.var() for z in rec.tensors]).tolist()


def init_check(width: int, depth: int, samples: int, inits: Sequence[str],
               gen: torch.Generator) -> Check:
    """Per-layer ratio Var[z_l] / Var[z_{l-1}] of a plain ReLU MLP against fan_in * Var[w] / 2.

    The sampling error of one ratio comes mostly from the finite width (one draw of W), so the
    summary's standard error is the spread of log-ratios over layers / sqrt(layers - 1).
    """
    x = torch.randn(samples, width, generator=gen)
    per_layer, summary = {}, []
    for init in inits:
        with seeded_from(gen):
            net = plain_relu_mlp(width, depth, init)
        q = np.array(preactivation_variances(net, x))
        ratios = q[1:] / q[:-1]
        r = theory.relu_variance_factor(init, width, width)
        logs = np.log(ratios)
        se = logs.std(ddof=1) / math.sqrt(len(logs))
        geo = float(np.exp(logs.mean()))
        per_layer[init] = np.concatenate([[q[0] / x.var().item()], ratios])
        summary.append({"init": init, "predicted_factor": r, "measured_geomean": geo,
                        "rel_std_error": se, "z": math.log(geo / r) / se,
                        "first_layer": per_layer[init][0],
                        "first_layer_predicted": theory.first_layer_factor(init, width, width),
                        f"var_z{depth}": q[-1]})
    table = pd.DataFrame({"layer": np.arange(1, depth + 1),
                          **{f"{i} (x{theory.relu_variance_factor(i, width, width):.3g})": v
                             for i, v in per_layer.items()}})
    notes = [f"plain ReLU MLP, width {width}, depth {depth}, no biases, {samples} inputs "
             "x ~ N(0, I); columns: measured Var[z_l]/Var[z_(l-1)] (layer 1: Var[z_1]/Var[x]), "
             "predicted per-layer factor in brackets",
             pd.DataFrame(summary).to_string(index=False, float_format=_fmt)]
    return Check("init", "initialization: variance of pre-activations with depth", table, notes,
                 {"summary": pd.DataFrame(summary), "per_layer": per_layer, "depth": depth})


# --- dropout on one ReLU layer ----------------------------------------------------------------------

def relu_layer_outputs(in_dim: int, units: int, samples: int, gen: torch.Generator) -> torch.Tensor:
    """h = ReLU(W x), x ~ N(0, I_in), W (units x in) with orthonormal rows, no bias."""
    if units > in_dim:
        raise ValueError(f"orthonormal rows need units <= in_dim, got {units} > {in_dim}")
    layer = nn.Linear(in_dim, units, bias=False)
    nn.init.orthogonal_(layer.weight, generator=gen)
    x = torch.randn(samples, in_dim, generator=gen)
    with torch.no_grad():
        return torch.relu(layer(x))


def _mean_row(name: str, values: torch.Tensor, closed: float) -> Dict[str, Any]:
    """Sample mean of i.i.d. values with its standard error and z-score against `closed`."""
    v = values.double().flatten()
    m, se = v.mean().item(), (v.std() / math.sqrt(v.numel())).item()
    return {"quantity": name, "measured": m, "closed_form": closed, "std_error": se,
            "z": (m - closed) / se}


def _var_row(name: str, values: torch.Tensor, closed: float) -> Dict[str, Any]:
    """Sample variance of i.i.d. values; its standard error is that of the mean of (v - mean)^2."""
    v = values.double().flatten()
    return _mean_row(name, (v - v.mean()) ** 2, closed)


def _binomial_fit(kept: np.ndarray, units: int, keep_prob: float) -> Tuple[float, float, int]:
    """Chi-square goodness of fit of kept counts to Binomial(units, keep_prob); tails with an
    expected count under 5 are merged into the outermost bins."""
    expected = len(kept) * stats.binom.pmf(np.arange(units + 1), units, keep_prob)
    observed = np.bincount(kept, minlength=units + 1).astype(float)
    big = np.flatnonzero(expected >= 5)
    lo, hi = big[0], big[-1]
    obs, exp = observed[lo:hi + 1].copy(), expected[lo:hi + 1].copy()
    obs[0] += observed[:lo].sum()
    obs[-1] += observed[hi + 1:].sum()
    exp[0] += expected[:lo].sum()
    exp[-1] += expected[hi + 1:].sum()
    exp *= obs.sum() / exp.sum()
    res = stats.chisquare(obs, exp)
    return float(res.statistic), float(res.pvalue), len(obs) - 1


def dropout_check(in_dim: int, units: int, samples: int, p: float, gen: torch.Generator) -> Check:
    """Moments of h = ReLU(Wx) and of inverted dropout (torch's own nn.Dropout) applied to it."""
    h = relu_layer_outputs(in_dim, units, samples, gen)
    with seeded_from(gen):
        mask = F.dropout(torch.ones_like(h), p, training=True)  # 0 or 1/(1-p), torch's dropout
    dropped = h * mask
    kept = (mask != 0).sum(1).numpy()
    k_mean, k_var = theory.kept_units_moments(units, p)
    second = theory.RELU_SECOND_MOMENT
    rows = [
        _mean_row("E[h]", h, theory.RELU_MEAN),
        _var_row("Var h", h, theory.RELU_VAR),
        _mean_row("E[h~] (inverted dropout)", dropped, theory.RELU_MEAN),
        _var_row("Var h~", dropped, theory.dropout_variance(theory.RELU_MEAN, second, p)),
        _mean_row("kept units per sample, mean", torch.from_numpy(kept), k_mean),
        _var_row("kept units per sample, variance", torch.from_numpy(kept), k_var),
    ]
    chi2, pval, dof = _binomial_fit(kept, units, 1.0 - p)
    notes = [f"h = ReLU(Wx), x ~ N(0, I_{in_dim}), W {units}x{in_dim} with orthonormal rows, "
             f"{samples} samples, p = {p}; z = (measured - closed form) / std_error",
             f"kept units vs Binomial({units}, {1 - p:g}): chi-square {chi2:.1f} on {dof} dof, "
             f"p-value {pval:.3g}"]
    return Check("dropout", "dropout on one ReLU layer", pd.DataFrame(rows), notes,
                 {"kept": kept, "units": units, "p": p, "chi2_pvalue": pval})


# --- dropout before batch norm --------------------------------------------------------------------

def variance_shift_check(in_dim: int, units: int, samples: int, p: float, batch_size: int,
                         gen: torch.Generator) -> Check:
    """The variance a BatchNorm1d after Dropout(p) learns in training vs what it sees in eval.

    BN's running variance is a plain average over the training batches (momentum=None), so it
    estimates the training-mode variance without a moving-average lag.
    """
    h_train = relu_layer_outputs(in_dim, units, samples, gen)
    h_eval = relu_layer_outputs(in_dim, units, samples, gen)
    net = nn.Sequential(nn.Dropout(p), nn.BatchNorm1d(units, momentum=None, affine=False))
    net.train()
    with torch.no_grad(), seeded_from(gen):
        out_train = torch.cat([net(b) for b in h_train.split(batch_size)])
        net.eval()
        out_eval = net(h_eval)
    bn = net[1]
    mu, second = theory.RELU_MEAN, theory.RELU_SECOND_MOMENT
    var_train = theory.dropout_variance(mu, second, p)

    # Units are independent, so the spread of per-unit values over units gives the standard
    # error. The train-mode output is normalized batch by batch: its variance is 1 by
    # construction (up to BN's eps and the n/(n-1) of an unbiased estimate), not a sample.
    rows = [
        _mean_row("BN input variance, train (dropout on) = running_var", bn.running_var, var_train),
        _mean_row("BN input variance, eval (dropout off)", h_eval.var(0), theory.RELU_VAR),
        {"quantity": "BN output variance, train", "measured": out_train.var(0).mean().item(),
         "closed_form": 1.0, "std_error": float("nan"), "z": float("nan")},
        _mean_row("BN output variance, eval (variance shift)", out_eval.var(0),
                  theory.variance_shift(mu, second, p)),
    ]
    notes = [f"Dropout(p={p}) -> BatchNorm1d({units}) on h = ReLU(Wx) as above, {samples} "
             f"samples in batches of {batch_size}; the eval-mode output variance should be 1 "
             "and is Var_eval / Var_train instead (Li et al. 2019)"]
    return Check("variance_shift", "dropout before batch norm: variance shift",
                 pd.DataFrame(rows), notes)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def format_check(check: Check) -> str:
    """The check as printed by `regstudy probe`: title, table, notes."""
    lines = [f"== {check.title} ==", check.table.to_string(index=False, float_format=_fmt)]
    return "\n".join(lines + [""] + check.notes) + "\n"

