"""One comparison of an arm with its baseline over seeds: paired when both have the same seeds.

A seed fixes the data order, the initialisation and the dropout masks, so two arms trained
with the same seed share part of their noise. The paired analysis works on per-seed
differences and removes that shared part; Welch's test ignores it. Both give the difference
of means, its t interval, the two-sided p-value and the standard error and degrees of freedom
that the power and the sequential rule need. Torch-free and scipy.stats-free (fast start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
from scipy.special import stdtr, stdtrit

from . import stats

PAIRED, WELCH = "paired", "welch"


@dataclass(frozen=True)
class Comparison:
    """mean(arm) - mean(baseline) with the test that gave it."""

    method: str       # PAIRED or WELCH
    n: int            # pairs (paired) or the smaller group (Welch)
    diff: float
    se: float         # standard error of diff (NaN when undefined)
    df: float         # degrees of freedom of the t reference
    p: float          # two-sided p-value that the difference is zero
    hedges_g: float   # Welch: Hedges' g; paired: the mean difference over the sd of differences

    def interval(self, level: float = 0.95) -> tuple[float, float]:
        """The two-sided t interval at `level` (NaN where undefined)."""
        if not (self.se > 0 and self.df > 0):
            return math.nan, math.nan
        half = float(stdtrit(self.df, 0.5 + level / 2)) * self.se
        return self.diff - half, self.diff + half


def same_seeds(arm: Mapping[int, float], base: Mapping[int, float]) -> bool:
    """Whether the two groups were run with exactly the same seeds (pairing is possible)."""
    return len(arm) >= 2 and set(arm) == set(base)


def paired(arm: Mapping[int, float], base: Mapping[int, float]) -> Comparison:
    """Paired t analysis of the per-seed differences (seeds present in both)."""
    seeds = sorted(set(arm) & set(base))
    d = np.array([arm[s] - base[s] for s in seeds], dtype=float)
    n = d.size
    if n == 0:
        return Comparison(PAIRED, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    diff = float(d.mean())
    if n < 2:
        return Comparison(PAIRED, n, diff, math.nan, math.nan, math.nan, math.nan)
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    if se == 0:
        p = 1.0 if diff == 0 else 0.0
    else:
        p = float(2 * stdtr(n - 1, -abs(diff) / se))
    return Comparison(PAIRED, n, diff, se, float(n - 1), p, diff / sd if sd > 0 else math.nan)


def welch(arm: Mapping[int, float], base: Mapping[int, float]) -> Comparison:
    """Welch's unequal-variance t analysis of the two groups' values."""
    x = np.array(list(arm.values()), dtype=float)
    y = np.array(list(base.values()), dtype=float)
    n = int(min(x.size, y.size))
    if n == 0:
        return Comparison(WELCH, 0, math.nan, math.nan, math.nan, math.nan, math.nan)
    diff = float(x.mean() - y.mean())
    if n < 2:
        return Comparison(WELCH, n, diff, math.nan, math.nan, math.nan, math.nan)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return Comparison(WELCH, n, diff, 0.0, math.nan, math.nan, math.nan)
    se = math.sqrt(vx + vy)
    df = (vx + vy) ** 2 / (vx ** 2 / (x.size - 1) + vy ** 2 / (y.size - 1))
    return Comparison(WELCH, n, diff, se, float(df), float(2 * stdtr(df, -abs(diff) / se)),
                      stats.hedges_g(x, y))


def compare(arm: Mapping[int, float], base: Mapping[int, float],
            method: Optional[str] = None) -> Comparison:
    """`method` None: paired when both groups have the same seeds, else Welch."""
    if method is None:
        method = PAIRED if same_seeds(arm, base) else WELCH
    return paired(arm, base) if method == PAIRED else welch(arm, base)
