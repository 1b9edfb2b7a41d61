"""The summary of a search that goes into its sweep dir's search.json (contract C2; written by
regstudy.record.run_record, like each trial's study name, number and parameters in its record)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List

from .space import as_override

COUNTED = ("complete", "pruned", "failed", "diverged")


def _trial_row(trial, clean: Callable[[Dict[str, Any]], Dict[str, Any]]) -> Dict[str, Any]:
    values = trial.values
    multi = values is not None and len(values) > 1
    return {"number": trial.number, "state": trial.state.name.lower(),
            "value": None if multi else trial.value, **({"values": values} if multi else {}),
            "params": clean(dict(trial.params)), "run_status": trial.user_attrs.get("run_status"),
            "run_dir": trial.user_attrs.get("run_dir"), "error": trial.user_attrs.get("error")}


def pareto_front(study, rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """A multi-objective study's Pareto-optimal trials (Optuna's best_trials), by the first
    objective: number, values, params, overrides, run_dir."""
    by_number = {r["number"]: r for r in rows}
    front = sorted((by_number[t.number] for t in study.best_trials), key=lambda r: r["values"])
    return [{"number": r["number"], "values": r["values"], "params": r["params"],
             "overrides": [as_override(k, v) for k, v in r["params"].items()],
             "run_dir": r["run_dir"]} for r in front]


def summarize(study, storage_url: str, objective: Any, direction: Any, n_trials: int,
              clean: Callable[[Dict[str, Any]], Dict[str, Any]] = dict) -> Dict[str, Any]:
    """The C2 summary of every trial of the study (all workers' trials, not only this one's);
    `clean` maps sampled values to the space's own (Space.clean). Several objectives (lists):
    `best` is null and `pareto_front` lists the Pareto-optimal trials."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    rows: List[Dict[str, Any]] = [_trial_row(t, clean) for t in trials]
    counts = dict.fromkeys(COUNTED, 0)
    for row in rows:
        if row["state"] == "complete":
            counts["complete"] += 1
        elif row["state"] == "pruned":
            counts["pruned"] += 1
        elif row["state"] == "fail":
            counts["diverged" if row["run_status"] == "diverged" else "failed"] += 1
    complete = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    best = None
    # Another worker still runs trials: its own summary, written later, has the final word.
    partial = any(r["state"] == "running" for r in rows)
    if isinstance(objective, list):
        return {"study_name": study.study_name, "storage": storage_url, "objective": objective,
                "direction": direction, "n_trials": n_trials, "partial": partial, "best": None,
                "pareto_front": pareto_front(study, rows), "counts": counts, "trials": rows}
    if complete:
        pick = max if direction == "maximize" else min
        top = pick(complete, key=lambda r: r["value"])
        best = {"number": top["number"], "value": top["value"], "params": top["params"],
                "overrides": [as_override(k, v) for k, v in top["params"].items()],
                "run_dir": top["run_dir"]}
    return {"study_name": study.study_name, "storage": storage_url, "objective": objective,
            "direction": direction, "n_trials": n_trials, "partial": partial, "best": best,
            "counts": counts, "trials": rows}
