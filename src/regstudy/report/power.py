"""What a comparison could have detected: the minimum detectable effect at 80 % power for the
seeds it had and the noise it measured, and the seeds it would take to decide a given effect.

Exact for the t test through the noncentral t distribution (`scipy.special.nctdtrinc`):
with c the two-sided critical value, power ~ P(T' > c) for noncentrality delta = effect / se,
so the detectable effect is delta(0.8) * se. The seeds to decide an effect of size `sesoi`
are the smallest n whose detectable effect at the same per-seed noise is at most sesoi.
"""

from __future__ import annotations

import math
from typing import Optional

from scipy.special import nctdtrinc, stdtrit

from .compare import PAIRED, Comparison

POWER = 0.8
MAX_SEEDS = 10_000


def detectable(se: float, df: float, alpha: float = 0.05, power: float = POWER) -> float:
    """The smallest true difference a two-sided t test at `alpha` detects with `power`."""
    if not (se > 0 and df > 0):
        return math.nan
    crit = float(stdtrit(df, 1 - alpha / 2))
    return float(nctdtrinc(df, 1 - power, crit)) * se


def mde(c: Comparison, alpha: float = 0.05, power: float = POWER) -> float:
    """Minimum detectable effect of the comparison as it was run."""
    return detectable(c.se, c.df, alpha, power)


def _unit_noise(c: Comparison) -> float:
    """Noise per seed: sd of the differences (paired) or sqrt(var_a + var_b) (Welch, per arm)."""
    return c.se * math.sqrt(c.n)


def seeds_needed(c: Comparison, sesoi: float, alpha: float = 0.05,
                 power: float = POWER) -> Optional[int]:
    """Seeds per arm for `power` to detect a difference of `sesoi` at the measured noise;
    None when the noise is unknown, MAX_SEEDS+ is returned as None too."""
    if not (c.se > 0 and c.n >= 2 and sesoi > 0):
        return None
    unit = _unit_noise(c)
    for n in range(2, MAX_SEEDS + 1):
        df = n - 1 if c.method == PAIRED else 2 * n - 2
        if detectable(unit / math.sqrt(n), df, alpha, power) <= sesoi:
            return n
    return None
