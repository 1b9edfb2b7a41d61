"""Group-sequential decisions for several arms against one baseline, with seeds added in looks.

After each look (e.g. 3, 5 and 8 seeds per arm) every open arm is tested against the baseline.
The nominal level of each look comes from an alpha-spending function (Lan & DeMets: O'Brien-
Fleming-type spends almost nothing early, Pocock-type spends evenly), computed for two-sided
boundaries on the information fractions n_look / max_seeds with the joint normal law of the
look statistics (corr = sqrt(t_i / t_j)). Arms are combined by Holm's step-down rule applied
to the group-sequential tests (Maurer & Bretz 2013): an arm is tested at alpha / m', m' the
arms not yet rejected; each rejection raises the level of the others. An arm stops when it is
decided: `better` / `worse` (boundary crossed), `equivalent` (its repeated confidence interval
at the look's nominal level lies inside +-sesoi), or stays `undecided` at max_seeds.

The family-wise false-positive rate of this rule is measured by `simulate` (tests: >= 10,000
null studies), not assumed: the t statistics of few seeds are only approximately jointly normal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from scipy.special import ndtr, ndtri

from .compare import Comparison, compare

SPENDING = ("obf", "pocock")
BETTER, WORSE, EQUIVALENT, UNDECIDED, OPEN = "better", "worse", "equivalent", "undecided", "open"


def spent(kind: str, t: float, alpha: float) -> float:
    """Two-sided alpha spent by information fraction t (Lan-DeMets)."""
    if t <= 0:
        return 0.0
    if kind == "obf":
        return float(2 - 2 * ndtr(ndtri(1 - alpha / 2) / math.sqrt(min(t, 1.0))))
    if kind == "pocock":
        return float(alpha * math.log(1 + (math.e - 1) * min(t, 1.0)))
    raise ValueError(f"spending {kind!r}: choose from {', '.join(SPENDING)}")


def _inside(bounds: Sequence[float], cov: np.ndarray) -> float:
    """P(|Z_i| < b_i for every i) for jointly normal Z with covariance `cov`."""
    from scipy.stats import multivariate_normal

    b = np.asarray(bounds, dtype=float)
    if b.size == 1:
        return float(1 - 2 * ndtr(-b[0]))
    return float(multivariate_normal.cdf(b, mean=np.zeros(b.size), cov=cov, lower_limit=-b,
                                         abseps=1e-6, releps=0))


@lru_cache(maxsize=256)
def nominal_levels(fractions: Tuple[float, ...], alpha: float, kind: str = "obf"
                   ) -> Tuple[float, ...]:
    """Two-sided nominal p-value thresholds per look that spend `alpha` as `kind` does."""
    from scipy.optimize import brentq

    t = np.asarray(fractions, dtype=float)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    bounds: List[float] = []
    previous_inside = 1.0
    for k in range(t.size):
        target = spent(kind, t[k], alpha) - spent(kind, t[k - 1] if k else 0.0, alpha)
        if target <= 1e-12:
            bounds.append(math.inf)
            continue

        def excess(b: float, k: int = k, inside: float = previous_inside,
                   target: float = target) -> float:
            return inside - _inside(bounds + [b], cov[:k + 1, :k + 1]) - target

        b = brentq(excess, 0.0, 40.0, xtol=1e-5) if excess(40.0) < 0 else 40.0
        bounds.append(b)
        previous_inside = _inside(bounds, cov[:k + 1, :k + 1])
    return tuple(float(2 * ndtr(-b)) if math.isfinite(b) else 0.0 for b in bounds)


@dataclass(frozen=True)
class Plan:
    """The looks (seeds per arm after which to test), the level and the smallest effect."""

    looks: Tuple[int, ...]
    alpha: float = 0.05
    sesoi: float = 0.0
    spending: str = "obf"
    lower_is_better: bool = True

    @property
    def max_seeds(self) -> int:
        return self.looks[-1]

    def levels(self, level: float) -> Tuple[float, ...]:
        return nominal_levels(tuple(n / self.max_seeds for n in self.looks), level,
                              self.spending)


@dataclass
class ArmDecision:
    decision: str = OPEN
    look: Optional[int] = None           # 1-based look at which it was decided
    comparison: Optional[Comparison] = None
    level: float = math.nan              # the nominal two-sided level it was last tested at
    history: List[Dict[str, float]] = field(default_factory=list)

    def interval(self) -> Tuple[float, float]:
        """The repeated confidence interval at the level it was last tested at."""
        if self.comparison is None or not self.level > 0:
            return math.nan, math.nan
        return self.comparison.interval(1 - self.level)


def _data_at(values: Mapping[int, float], n: int) -> Dict[int, float]:
    """The first n seeds (in seed order): what the look after n seeds saw."""
    return {s: values[s] for s in sorted(values)[:n]}


def _direction(plan: Plan, diff: float) -> str:
    return BETTER if (diff < 0) == plan.lower_is_better else WORSE


def _look(plan: Plan, k: int, tests: Dict[str, Comparison], decided: Dict[str, ArmDecision],
          m: int) -> None:
    """Holm step-down at look k over the open arms' comparisons, then equivalence."""
    rejected = sum(d.decision in (BETTER, WORSE) for d in decided.values())
    open_arms = dict(tests)
    while open_arms:
        level = plan.levels(plan.alpha / (m - rejected))[k]
        arm, c = min(open_arms.items(), key=lambda kv: (math.isnan(kv[1].p), kv[1].p))
        if not c.p <= level:
            break
        decided[arm] = ArmDecision(_direction(plan, c.diff), k + 1, c, level,
                                   decided[arm].history)
        rejected += 1
        del open_arms[arm]
    if not open_arms:
        return
    level = plan.levels(plan.alpha / (m - rejected))[k]
    last = k == len(plan.looks) - 1
    for arm, c in open_arms.items():
        d = ArmDecision(OPEN, None, c, level, decided[arm].history)
        lo, hi = d.interval()
        if plan.sesoi > 0 and -plan.sesoi < lo and hi < plan.sesoi:
            d.decision, d.look = EQUIVALENT, k + 1
        elif last:
            d.decision, d.look = UNDECIDED, k + 1
        decided[arm] = d


def decide(plan: Plan, arms: Mapping[str, Mapping[int, float]], baseline: Mapping[int, float],
           method: Optional[str] = None) -> Dict[str, ArmDecision]:
    """Replay the looks on the data so far (arm -> seed -> value); an arm whose seeds do not
    reach a look stays open there. Deterministic in the data, so a study resumed between looks
    reaches the same decisions."""
    decided: Dict[str, ArmDecision] = {a: ArmDecision() for a in arms}
    for k, n in enumerate(plan.looks):
        ready = {a: compare(_data_at(v, n), _data_at(baseline, n), method)
                 for a, v in arms.items() if decided[a].decision == OPEN
                 and len(v) >= n and len(baseline) >= n}
        if not ready:
            break
        _look(plan, k, ready, decided, len(arms))
        for a in ready:
            decided[a].history.append({"look": k + 1, "n": n, "p": ready[a].p,
                                       "diff": ready[a].diff})
    return decided


def open_arms(decisions: Mapping[str, ArmDecision]) -> List[str]:
    return [a for a, d in decisions.items() if d.decision == OPEN]


def simulate(plan: Plan, arms: int, studies: int, effect: float = 0.0, seed: int = 0,
             method: str = "paired") -> Dict[str, float]:
    """Monte-Carlo error rates of `decide` on normal noise of sd 1 per seed and arm.

    effect 0: every arm equals the baseline, returns the family-wise rate of any better/worse
    decision. effect != 0: the first arm differs by `effect`; returns the power to call it
    better (lower), and the mean seeds per arm the studies spent."""
    rng = np.random.default_rng(seed)
    false_pos = found = 0
    spent_seeds = 0.0
    for _ in range(studies):
        x = rng.standard_normal((arms + 1, plan.max_seeds))
        x[1] -= effect
        values = {f"a{i}": dict(enumerate(x[i + 1])) for i in range(arms)}
        d = decide(plan, values, dict(enumerate(x[0])), method)
        hits = [a for a, r in d.items() if r.decision in (BETTER, WORSE)]
        null_hits = [a for a in hits if effect == 0 or a != "a0"]
        false_pos += bool(null_hits)
        found += d["a0"].decision == BETTER
        spent_seeds += max(h["n"] for r in d.values() for h in r.history)
    return {"fwer": false_pos / studies, "power": found / studies,
            "mean_seeds": spent_seeds / studies}
