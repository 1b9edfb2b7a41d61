"""The final stage's verdicts: each arm against the baseline (sequential or fixed seeds), the
power each comparison had, and the source's claims judged from the same runs.

Everything is recomputed from the run records on disk, so a study resumed between looks
reaches the same decisions, and `study.json` never holds a verdict its runs do not support.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from ..report.compare import Comparison, compare
from ..report.power import mde, seeds_needed
from ..report.sequential import (
    BETTER,
    EQUIVALENT,
    OPEN,
    UNDECIDED,
    WORSE,
    ArmDecision,
    Plan,
    decide,
)
from ..report.stats import holm
from ..report.table import DISPLAY
from .spec import Claim, Study

HIGHER_IS_BETTER = {"test_acc", "best_val_acc"}
Values = Dict[str, Dict[int, float]]   # arm -> seed -> metric value (completed runs)


def arm_values(dirs: List[Path], metric: str) -> Values:
    """Completed final runs under `dirs` by arm and seed."""
    from ..report.runs import load_runs

    runs = load_runs([d for d in dirs if Path(d).is_dir()])
    out: Values = {}
    for _, r in runs.iterrows():
        arm = (r["overrides"] or {}).get("arm")
        if arm and r["status"] == "completed" and not math.isnan(r[metric]):
            out.setdefault(arm, {})[int(r["seed"])] = float(r[metric])
    return out


def scale(metric: str) -> float:
    return DISPLAY[metric][1]


def plan_of(study: Study) -> Plan:
    """The sequential plan, sesoi converted from the table's units to the metric's."""
    a = study.analysis
    looks = tuple(a.looks) if a.sequential else (len(study.seeds),)
    return Plan(looks, a.alpha, (a.sesoi or 0.0) / scale(study.metric), a.spending,
                study.metric not in HIGHER_IS_BETTER)


def final_decisions(study: Study, values: Values) -> Dict[str, ArmDecision]:
    """Every arm but the baseline: decided by the sequential rule (seeds=auto) or, with a
    fixed number of seeds, by one look at all of them (the same rule with one look: Holm)."""
    arms = {a.name: values.get(a.name, {}) for a in study.arms if a.name != study.baseline}
    return decide(plan_of(study), arms, values.get(study.baseline, {}), study.analysis.method)


def describe(study: Study, d: ArmDecision) -> Dict[str, Any]:
    """One arm's decision as study.json holds it (numbers in the table's units)."""
    c, k = d.comparison, scale(study.metric)
    sesoi = (study.analysis.sesoi or 0.0) / k
    lo, hi = d.interval()
    out: Dict[str, Any] = {"decision": d.decision, "look": d.look, "history": d.history}
    if c is not None:
        out.update({"n": c.n, "method": c.method, "diff": c.diff * k, "p": _num(c.p),
                    "level": _num(d.level), "interval": [_num(lo * k), _num(hi * k)],
                    "mde_80": _num(mde(c) * k),
                    "seeds_for_sesoi": seeds_needed(c, sesoi) if sesoi else None})
    return out


def _num(x: float) -> Optional[float]:
    return None if x is None or math.isnan(x) else float(x)


def seen_values(values: Values, seeds: List[int]) -> Values:
    """The records of `seeds` only: what the looks up to len(seeds) seeds per arm saw."""
    keep = set(seeds)
    return {arm: {s: v for s, v in by_seed.items() if s in keep} for arm, by_seed in values.items()}


def look_arms(study: Study, values: Values, prev: int) -> List[str]:
    """The arms the look after `prev` seeds per arm trains: every arm at the first look, then
    the baseline and the arms still open; empty when every arm is decided. Judged from the
    seeds of the earlier looks only, never from runs of a later look already on disk, so a
    resumed study trains at each look the same arms and seeds as when it first ran."""
    if not prev:
        return [a.name for a in study.arms]
    decisions = final_decisions(study, seen_values(values, study.seeds[:prev]))
    still_open = [a for a, d in decisions.items() if d.decision == OPEN]
    return [study.baseline] + still_open if still_open else []


# --- claims -----------------------------------------------------------------------------------

SUPPORTED, CONTRADICTED, NO_DIFF, NOT_RUN = ("supported", "contradicted",
                                             "no difference larger than sesoi", "not run")


def _pair_verdict(expect: str, c: Comparison, p_adj: float, alpha: float, sesoi: float) -> str:
    lo, hi = c.interval(1 - alpha)
    if sesoi > 0 and -sesoi < lo and hi < sesoi:
        return SUPPORTED if expect == "equal" else NO_DIFF
    if p_adj <= alpha:
        if expect == "equal":
            return CONTRADICTED
        return SUPPORTED if (c.diff < 0) == (expect == "lower") else CONTRADICTED
    return UNDECIDED


def _combine(verdicts: List[str]) -> str:
    for v in (NOT_RUN, CONTRADICTED, UNDECIDED, NO_DIFF):
        if v in verdicts:
            return v
    return SUPPORTED


def judge_claims(study: Study, dirs: List[Path],
                 decisions: Mapping[str, ArmDecision]) -> List[Dict[str, Any]]:
    """Each claim's verdict from the final runs. A comparison with the baseline on the study's
    metric takes the final stage's decision (it alone accounts for the looks); every other
    comparison the claims make is a paired (seeds in common) or Welch test, Holm-corrected
    over all of them, with an equivalence call when its interval lies inside +-sesoi.
    A claim holds when every comparison in it holds."""
    cache: Dict[str, Values] = {}
    rows = []
    for claim in study.claims:
        vals = cache.setdefault(claim.metric, arm_values(dirs, claim.metric))
        for other in claim.than:
            a, b = vals.get(claim.arm, {}), vals.get(other, {})
            rows.append((claim, other, compare(a, b, study.analysis.method) if a and b
                         else None))
    adjusted = holm([c.p if c is not None else math.nan for _, _, c in rows])
    out: Dict[int, Dict[str, Any]] = {}
    for (claim, other, c), p_adj in zip(rows, adjusted):
        entry = out.setdefault(id(claim), _claim_entry(claim))
        decided = _from_decision(study, claim, other, decisions)
        entry["comparisons"].append(decided or _comparison_entry(study, claim, other, c, p_adj))
    for entry in out.values():
        entry["verdict"] = _combine([c["verdict"] for c in entry["comparisons"]])
    return list(out.values())


def _from_decision(study: Study, claim: Claim, other: str,
                   decisions: Mapping[str, ArmDecision]) -> Optional[Dict[str, Any]]:
    """The final stage's decision, where the claim compares an arm with the baseline on the
    study's metric."""
    if claim.metric != study.metric or study.baseline not in (claim.arm, other):
        return None
    arm = other if claim.arm == study.baseline else claim.arm
    if arm not in decisions or decisions[arm].comparison is None:
        return None
    d = decisions[arm]
    flip = claim.arm == study.baseline   # "baseline lower than arm" = "arm higher than baseline"
    lower = (d.comparison.diff < 0) != flip
    verdict = {EQUIVALENT: SUPPORTED if claim.expect == "equal" else NO_DIFF,
               UNDECIDED: UNDECIDED, OPEN: UNDECIDED}.get(d.decision)
    if verdict is None:   # better or worse: the difference is significant
        verdict = CONTRADICTED if claim.expect == "equal" else \
            SUPPORTED if lower == (claim.expect == "lower") else CONTRADICTED
    return {"than": other, "verdict": verdict, "from": "final decision",
            **{k: v for k, v in describe(study, d).items() if k != "history"}}


def _claim_entry(claim: Claim) -> Dict[str, Any]:
    return {"claim": claim.text, "arm": claim.arm, "than": claim.than, "metric": claim.metric,
            "expect": claim.expect, "comparisons": []}


def _comparison_entry(study: Study, claim: Claim, other: str, c: Optional[Comparison],
                      p_adj: float) -> Dict[str, Any]:
    if c is None or c.n < 2:
        return {"than": other, "verdict": NOT_RUN if c is None else UNDECIDED}
    k = scale(claim.metric)
    sesoi = (study.analysis.sesoi or 0.0) / k if claim.metric == study.metric else 0.0
    lo, hi = c.interval(1 - study.analysis.alpha)
    verdict = _pair_verdict(claim.expect, c, p_adj, study.analysis.alpha, sesoi)
    return {"than": other, "verdict": verdict, "method": c.method, "n": c.n,
            "diff": c.diff * k, "interval": [_num(lo * k), _num(hi * k)], "p": _num(c.p),
            "p_holm": _num(p_adj), "mde_80": _num(mde(c) * k),
            "seeds_for_sesoi": seeds_needed(c, sesoi) if sesoi and verdict == UNDECIDED
            else None}


__all__ = ["BETTER", "WORSE", "EQUIVALENT", "UNDECIDED", "OPEN", "arm_values", "plan_of",
           "final_decisions", "describe", "look_arms", "seen_values", "judge_claims"]
