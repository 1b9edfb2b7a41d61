"""Statistics over seeds: mean, spread, a t-distribution confidence interval, Welch's t-test
and interval of a difference, Hedges' g, Holm's correction for several arms against one baseline.

Computed from Student's t CDF and quantile in `scipy.special` (`stdtr`, `stdtrit`) — the
functions `scipy.stats.t` and `scipy.stats.ttest_ind(equal_var=False)` evaluate — because
importing `scipy.stats` alone costs about a second of CPU and `regstudy table` must start
in well under one. tests/test_table.py checks both against `scipy.stats` on the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.special import gammaln, stdtr, stdtrit


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float        # sample standard deviation (n - 1 in the denominator)
    ci_low: float     # confidence interval of the mean, t distribution with n - 1 df
    ci_high: float


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean, sample std and confidence interval of the mean; NaN where n is too small."""
    x = np.asarray(values, dtype=float)
    n = x.size
    if n == 0:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    mean = float(x.mean())
    if n == 1:
        return Summary(1, mean, math.nan, math.nan, math.nan)
    std = float(x.std(ddof=1))
    half = float(stdtrit(n - 1, 0.5 + level / 2)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) that means of a and b differ.

    NaN when it is undefined: fewer than two values on a side, or no spread on either side."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        return math.nan
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return math.nan
    t = (x.mean() - y.mean()) / math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    return float(2 * stdtr(df, -abs(t)))


@dataclass(frozen=True)
class Difference:
    """mean(a) - mean(b) with its Welch confidence interval and Hedges' g."""

    diff: float
    low: float
    high: float
    hedges_g: float


def _welch_parts(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Standard error of the difference of means and Welch-Satterthwaite degrees of freedom."""
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return 0.0, math.nan
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    return math.sqrt(vx + vy), df


def difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """The difference of means with a Welch interval (the interval of the same test that gives
    `welch_p`) and Hedges' g; NaN where undefined (fewer than two values on a side)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size == 0 or y.size == 0:
        return Difference(math.nan, math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if x.size < 2 or y.size < 2:
        return Difference(diff, math.nan, math.nan, math.nan)
    se, df = _welch_parts(x, y)
    half = math.nan if math.isnan(df) else float(stdtrit(df, 0.5 + level / 2)) * se
    return Difference(diff, diff - half, diff + half, hedges_g(x, y))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    """Standardised mean difference (mean(a) - mean(b)) / pooled sd, times the exact small-sample
    correction J(df) = Γ(df/2) / (√(df/2) Γ((df-1)/2)), df = n_a + n_b - 2. Seeds are few, so
    Cohen's d alone would overstate the effect."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    df = x.size + y.size - 2
    if x.size < 2 or y.size < 2:
        return math.nan
    pooled = math.sqrt(((x.size - 1) * x.var(ddof=1) + (y.size - 1) * y.var(ddof=1)) / df)
    if pooled == 0:
        return math.nan
    j = math.exp(gammaln(df / 2) - gammaln((df - 1) / 2)) / math.sqrt(df / 2)
    return float(j * (x.mean() - y.mean()) / pooled)


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1); NaN entries stay
    NaN and do not count in the family."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, math.nan)
    known = np.flatnonzero(~np.isnan(p))
    order = known[np.argsort(p[known], kind="stable")]
    m = order.size
    steps = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return out
