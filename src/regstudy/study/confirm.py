"""Tuning that does not pick noise: the best few trials of an arm re-run on more seeds.

One tuning trial is one training seed, and on a flat landscape the best trial is often the
luckiest seed. Before an arm's winner is fixed, its `confirm_top` best trials are each re-run
on `confirm_seeds` further seeds (validation only, into tune/ARM/confirm/trial<N>/), and the
winner is the trial with the best mean objective over its own seed and the confirming ones.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..record.run_record import COMPLETED, METRICS_FILE, RunRecord
from .commands import VALIDATION_TABLE
from .process import say, warn
from .spec import Arm, Study


def confirm_seeds(study: Study) -> List[int]:
    """Seeds after the tuning seed, never a final seed."""
    n = int(study.tune.get("confirm_seeds", 0) or 0)
    seeds, s = [], int(study.tune["seed"]) + 1
    while len(seeds) < n:
        if s not in study.seeds:
            seeds.append(s)
        s += 1
    return seeds


def top_trials(search: Dict[str, Any], k: int) -> List[Dict[str, Any]]:
    """The k best complete trials of a search.json, best first."""
    done = [t for t in search.get("trials") or []
            if t.get("state") == "complete" and t.get("value") is not None]
    sign = -1.0 if search["direction"] == "maximize" else 1.0
    return sorted(done, key=lambda t: sign * t["value"])[:k]


def _values(sweep_dir: Path, objective: str, direction: Optional[str]) -> List[float]:
    from ..search.objective import get_objective, record_value

    obj, _ = get_objective(objective, direction)
    out = []
    for path in sorted(sweep_dir.glob(f"*/{METRICS_FILE}")):
        record = RunRecord.load(path.parent)
        value = record_value(obj, record.data) if record.status == COMPLETED else None
        if value is not None and math.isfinite(value):
            out.append(value)
    return out


def confirm_arm(study: Study, arm: Arm, search: Dict[str, Any], base: List[str],
                sweep_root: Path, run_sweep) -> Dict[str, Any]:
    """Re-run the arm's top trials on the confirming seeds; returns search.json with `best`
    replaced by the confirmed winner and `confirm` listing every candidate's scores.
    `run_sweep(overrides, sweep_dir, what)` runs one `regstudy train -m` sweep."""
    k, seeds = int(study.tune.get("confirm_top", 0) or 0), confirm_seeds(study)
    candidates = top_trials(search, k)
    if k < 2 or not seeds or len(candidates) < 2:
        return search
    rows = []
    for trial in candidates:
        overrides = _overrides_of(search, trial)
        sweep_dir = sweep_root / f"trial{trial['number']}"
        run_sweep([*base, arm.reg_override, *overrides, f"seed={','.join(map(str, seeds))}",
                   f"trainer.epochs={study.tune_epochs}", *study.launcher,
                   f"hydra.sweep.dir={sweep_dir}", *VALIDATION_TABLE], sweep_dir,
                  f"confirm {arm.name} trial {trial['number']} on seeds {seeds}")
        scores = [trial["value"], *_values(sweep_dir, study.tune["objective"],
                                           study.tune.get("direction"))]
        rows.append({"number": trial["number"], "params": trial["params"],
                     "scores": scores, "mean": sum(scores) / len(scores)})
    pick = max if search["direction"] == "maximize" else min
    winner = pick(rows, key=lambda r: r["mean"])
    best = next(t for t in candidates if t["number"] == winner["number"])
    if winner["number"] != search["best"]["number"]:
        warn(f"tune {arm.name}: trial {winner['number']} wins on {len(winner['scores'])} seeds "
             f"over the single-seed best, trial {search['best']['number']}")
    say(f"tune {arm.name}: confirmed trial {winner['number']} (mean {winner['mean']:.4g})")
    confirmed = dict(search)
    confirmed["best"] = {**search["best"], "number": best["number"], "value": winner["mean"],
                         "params": best["params"],
                         "overrides": _overrides_of(search, best)}
    confirmed["confirm"] = {"seeds": seeds, "candidates": rows,
                            "single_seed_best": search["best"]["number"]}
    return confirmed


def _overrides_of(search: Dict[str, Any], trial: Dict[str, Any]) -> List[str]:
    from ..search.space import as_override

    return [as_override(k, v) for k, v in trial["params"].items()]
