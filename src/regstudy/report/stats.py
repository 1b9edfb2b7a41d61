"""Statistics over seeds: mean, spread, a t-distribution confidence interval, Welch's t-test.

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
from scipy.special import stdtr, stdtrit


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
