"""Stage 3: the tables (regstudy table's code), the HTML report and the study's own summary.

study.json holds, per arm, what it searched, the values it got, how many trials that took
and its final statistics; study.md is the same for reading, with the tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from .process import say, warn
from .spec import Study

REPORT_FILE = "report.html"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def arm_table(dirs: List[Path], metric: str, baseline: str, arms: Optional[List[str]] = None):
    """regstudy table's Table over the runs under `dirs` (only `arms`, when given), grouped by
    arm and compared with arm=`baseline`."""
    from ..report.runs import load_runs
    from ..report.table import summarize

    runs = load_runs(dirs)
    if arms is not None:
        keep = [ov is not None and ov.get("arm") in arms for ov in runs["overrides"]]
        runs = runs[keep].reset_index(drop=True)
    return summarize(runs, metric, {"arm": baseline})


def _rows(table) -> Dict[str, Dict[str, Any]]:
    return {r["arm"]: {k: _clean(v) for k, v in r.items() if k != "arm"}
            for r in table.groups.to_dict("records")}


def write_tables(study: Study, root: Path, ablation: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """table.md (+ table_ablation.md); returns each arm's row of its table (ablation arms:
    of the ablation table, against the combination they come from)."""
    from ..report.table import to_markdown

    table = arm_table([root / "final"], study.metric, study.baseline)
    (root / "table.md").write_text(to_markdown(table))
    say(f"table: {root / 'table.md'}")
    rows = _rows(table)
    if ablation:
        names = [ablation["of"], *ablation["arms"]]
        abl = arm_table([root / "final", root / "ablation"], study.metric, ablation["of"], names)
        (root / "table_ablation.md").write_text(to_markdown(abl))
        rows.update({k: v for k, v in _rows(abl).items() if k != ablation["of"]})
        say(f"ablation table: {root / 'table_ablation.md'}")
    return rows


def write_report(study: Study, root: Path, log: Path) -> Optional[Path]:
    """The HTML page of the final runs (`regstudy report`, in process)."""
    import contextlib

    from ..report.report_command import main as report_main

    out = root / REPORT_FILE
    searches = collect_searches(root)
    argv = [str(root / "final"), *([str(searches)] if searches else []), "--out", str(out),
            "--baseline", f"arm={study.baseline}", "--metric", study.metric]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream, contextlib.redirect_stdout(stream), \
            contextlib.redirect_stderr(stream):
        try:
            code = report_main(argv)
        except Exception as err:   # the tables are written: a figure problem must not lose them
            print(f"{type(err).__name__}: {err}")
            code = 1
    if code or not out.is_file():
        warn(f"regstudy report failed; see {log}")
        return None
    say(f"report: {out}")
    return out


def collect_searches(root: Path) -> Optional[Path]:
    """Each arm's search.json copied to DIR/searches/ARM/ (trial paths made absolute), so the
    report shows every arm's search (values found, trials taken) beside the final runs
    without counting the tuning runs in the table."""
    found = sorted((root / "tune").glob("*/search.json"))
    if not found:
        return None
    for path in found:
        data = json.loads(path.read_text())
        for item in [data.get("best") or {}, *(data.get("trials") or [])]:
            if item.get("run_dir") and not Path(item["run_dir"]).is_absolute():
                item["run_dir"] = str((path.parent / item["run_dir"]).resolve())
        target = root / "searches" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=1) + "\n")
    return root / "searches"


def grid_summary(grid_dirs: Dict[str, Path]) -> Dict[str, Any]:
    """Per arm: the grid point with the best mean validation accuracy, and every point's mean."""
    from ..report.runs import load_runs
    from ..report.table import summarize

    out: Dict[str, Any] = {}
    for arm, sweep_dir in grid_dirs.items():
        try:
            table = summarize(load_runs([sweep_dir]), "best_val_acc")
        except Exception as err:   # a grid that did not run must not hide the rest
            warn(f"grid {arm}: no table ({type(err).__name__}: {err})")
            continue
        points = [{"point": {k: r[k] for k in table.keys}, "n": int(r["n"]),
                   "best_val_acc": _clean(r["mean"])} for r in table.groups.to_dict("records")]
        scored = [p for p in points if p["best_val_acc"] is not None]
        out[arm] = {"points": points,
                    "best": max(scored, key=lambda p: p["best_val_acc"]) if scored else None}
    return out


def arm_entry(arm, search: Optional[Dict[str, Any]], chosen: List[str],
              final: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    entry: Dict[str, Any] = {"regularizers": arm.regs, "space": arm.space, "chosen": chosen,
                             "source": arm.source, "final": final}
    if search:
        best = search["best"]
        entry["tuning"] = {"best_value": best.get("value"), "best_params": best.get("params"),
                           "best_trial": best.get("number"), "trials": search.get("n_trials"),
                           "counts": search.get("counts"), "objective": search.get("objective"),
                           "storage": search.get("storage")}
    return entry


def _fmt_params(entry: Dict[str, Any]) -> str:
    return " ".join(entry["chosen"]) or "(defaults)"


def _trials_text(tuning: Dict[str, Any], counts: str, source: Optional[str]) -> str:
    if tuning:
        return f"{tuning.get('trials', '')} ({counts})"
    return f"values of {source} (ablation)" if source else "not tuned"


def study_markdown(doc: Dict[str, Any], root: Path) -> str:
    """study.md: the plan, what each arm got and the tables, readable without the JSON."""
    lines = [f"# Study {doc['name']}", "", f"Command: `{doc['command']}`", "",
             f"Commit {doc.get('commit') or '?'}; tuning: {doc['budget']['trials']} trials x "
             f"{doc['budget']['tune_epochs']} epochs per arm on validation "
             f"({doc['budget']['objective']}); final: seeds {doc['budget']['seeds']} x "
             f"{doc['budget']['final_epochs']} epochs, tested with the best-on-validation weights.",
             "", "| arm | regularizers | chosen | val objective | best at trial | trials "
             "(complete/pruned/failed/diverged) |", "|---|---|---|---|---|---|"]
    for name, e in doc["arms"].items():
        t = e.get("tuning") or {}
        c = t.get("counts") or {}
        counts = "/".join(str(c.get(k, 0)) for k in ("complete", "pruned", "failed", "diverged"))
        lines.append(f"| {name} | {', '.join(e['regularizers'])} | {_fmt_params(e)} | "
                     f"{t.get('best_value', '')} | {t.get('best_trial', '')} | "
                     f"{_trials_text(t, counts, e.get('source'))} |")
    for title, file in [("Final runs (test set)", "table.md"),
                        ("Remove-one ablation", "table_ablation.md")]:
        if (root / file).is_file():
            lines += ["", f"## {title}", "", (root / file).read_text().rstrip()]
    for arm, g in (doc.get("grid") or {}).items():
        lines += ["", f"## Grid on validation: {arm}", "", "| point | n | best val acc |",
                  "|---|---|---|"]
        lines += [f"| {' '.join(f'{k}={v}' for k, v in p['point'].items())} | {p['n']} | "
                  f"{p['best_val_acc']} |" for p in g["points"]]
        if g["best"]:
            lines.append(f"\nBest: {g['best']['point']}")
    return "\n".join(lines) + "\n"


def write_summary(doc: Dict[str, Any], root: Path) -> None:
    (root / "study.json").write_text(json.dumps(doc, indent=1, default=_clean) + "\n")
    (root / "study.md").write_text(study_markdown(doc, root))
    say(f"summary: {root / 'study.md'}, {root / 'study.json'}")
