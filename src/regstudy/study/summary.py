"""Stage 3: the tables (regstudy table's code), the HTML report and the study's own summary.

study.json holds, per arm, what it searched, the values it got, how many trials that took
and its final statistics; study.md is the same for reading, with the tables.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..record.run_record import SEARCH_FILE, read_search
from .process import say, warn
from .spec import Study

REPORT_FILE = "report.html"


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def arm_table(dirs: List[Path], metric: str, baseline: str, arms: Optional[List[str]] = None,
              study: Optional[Study] = None):
    """regstudy table's Table over the runs under `dirs` (only `arms`, when given), grouped by
    arm and compared with arm=`baseline`, paired by seed when the study's analysis is."""
    from ..report.runs import load_runs
    from ..report.table import DISPLAY, summarize

    runs = load_runs(dirs)
    if arms is not None:
        keep = [ov is not None and ov.get("arm") in arms for ov in runs["overrides"]]
        runs = runs[keep].reset_index(drop=True)
    paired = study is not None and study.analysis.method == "paired"
    sesoi = (study.analysis.sesoi or 0.0) / DISPLAY[metric][1] if study else 0.0
    return summarize(runs, metric, {"arm": baseline}, paired, sesoi)


def _rows(table) -> Dict[str, Dict[str, Any]]:
    return {r["arm"]: {k: _clean(v) for k, v in r.items() if k != "arm"}
            for r in table.groups.to_dict("records")}


def write_tables(study: Study, root: Path, ablation: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """table.md (+ table_ablation.md); returns each arm's row of its table (ablation arms:
    of the ablation table, against the combination they come from)."""
    from ..report.table import to_markdown

    table = arm_table([root / "final"], study.metric, study.baseline, study=study)
    (root / "table.md").write_text(to_markdown(table))
    say(f"table: {root / 'table.md'}")
    rows = _rows(table)
    if ablation:
        names = [ablation["of"], *ablation["arms"]]
        abl = arm_table([root / "final", root / "ablation"], study.metric, ablation["of"], names,
                        study)
        (root / "table_ablation.md").write_text(to_markdown(abl))
        rows.update({k: v for k, v in _rows(abl).items() if k != ablation["of"]})
        say(f"ablation table: {root / 'table_ablation.md'}")
    return rows


def write_report(study: Study, root: Path, log: Path) -> Optional[Path]:
    """The HTML page of the final runs (what `regstudy report` writes, in process)."""
    import contextlib

    from ..report.page import write_report as write_page

    out = root / REPORT_FILE
    searches = collect_searches(root)
    argv = [str(root / "final"), *([str(searches)] if searches else []), "--out", str(out),
            "--baseline", f"arm={study.baseline}", "--metric", study.metric,
            *(["--paired"] if study.analysis.method == "paired" else []),
            *(["--sesoi", str(study.analysis.sesoi)] if study.analysis.sesoi else [])]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream, contextlib.redirect_stdout(stream), \
            contextlib.redirect_stderr(stream):
        try:
            print(write_page([root / "final", *([searches] if searches else [])], out,
                             study.metric, f"arm={study.baseline}", argv,
                             study.analysis.method == "paired", study.analysis.sesoi or 0.0))
            code = 0
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
    found = sorted((root / "tune").glob(f"*/{SEARCH_FILE}"))
    if not found:
        return None
    for path in found:
        data = read_search(path.parent)
        if data is None:
            continue
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
                           "storage": search.get("storage"), "confirm": search.get("confirm")}
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
    lines += confirm_markdown(doc) + decisions_markdown(doc) + claims_markdown(doc)
    for arm, g in (doc.get("grid") or {}).items():
        lines += ["", f"## Grid on validation: {arm}", "", "| point | n | best val acc |",
                  "|---|---|---|"]
        lines += [f"| {' '.join(f'{k}={v}' for k, v in p['point'].items())} | {p['n']} | "
                  f"{p['best_val_acc']} |" for p in g["points"]]
        if g["best"]:
            lines.append(f"\nBest: {g['best']['point']}")
    return "\n".join(lines) + "\n"


def verdicts(study: Study, final_dir: Path) -> Dict[str, Any]:
    """study.json's analysis, each arm's decision against the baseline, the claims' verdicts
    and the runs the final stage spent beside what a fixed max-seeds plan would have."""
    from dataclasses import asdict

    from .decisions import arm_values, describe, final_decisions, judge_claims

    values = arm_values([final_dir], study.metric)
    decisions = final_decisions(study, values)
    spent = sum(len(v) for v in values.values())
    return {"analysis": asdict(study.analysis),
            "decisions": {a: describe(study, d) for a, d in decisions.items()},
            "claims": judge_claims(study, [final_dir, final_dir.parent / "ablation"], decisions),
            "spent": {"final_runs": spent,
                      "fixed_plan_runs": len(study.arms) * len(study.seeds)}}


def _fmt_num(x: Any, digits: int = 2, signed: bool = False) -> str:
    if x is None:
        return ""
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _p(x: Any) -> str:
    return "" if x is None else (f"{x:.2g}" if x < 0.001 else f"{x:.3f}")


def confirm_markdown(doc: Dict[str, Any]) -> List[str]:
    """Each tuned arm's best trials re-run on the confirming seeds, and the winner."""
    lines: List[str] = []
    for name, e in doc["arms"].items():
        c = (e.get("tuning") or {}).get("confirm")
        if not c:
            continue
        if not lines:
            lines = ["", "## Winners confirmed on more seeds (validation)", ""]
        lines.append(f"{name}: the best trials re-run on seeds {c['seeds']} (objective per "
                     f"seed: the trial's own, then the confirming seeds):")
        for r in c["candidates"]:
            mark = " <- chosen" if r["number"] == e["tuning"]["best_trial"] else ""
            params = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in r["params"].items())
            lines.append(f"- trial {r['number']} ({params}): "
                         f"{', '.join(f'{x:.4f}' for x in r['scores'])}; mean {r['mean']:.4f}{mark}")
    return lines


def decisions_markdown(doc: Dict[str, Any]) -> List[str]:
    """The decisions table: each arm against the baseline, with the power it had."""
    a = doc.get("analysis") or {}
    how = (f"group-sequential ({a.get('spending')} alpha spending, looks at "
           f"{a.get('looks')} seeds, Holm over arms)" if a.get("looks")
           else "one look at every seed (Holm over arms)")
    lines = ["", "## Decisions against the baseline", "",
             f"{a.get('method', 'paired')} comparisons, {how}, family-wise alpha "
             f"{a.get('alpha')}; smallest effect of interest (sesoi) "
             f"{a.get('sesoi') if a.get('sesoi') is not None else 'not set'}. Interval: the "
             "repeated confidence interval at the level the arm was last tested at. MDE: the "
             "smallest difference the comparison detects with 80% power at alpha 0.05.", "",
             "| comparison | decision | at look | seeds | diff | interval | p | level | MDE (80%) "
             "| seeds for sesoi |", "|---|---|---|---|---|---|---|---|---|---|"]
    for arm, d in (doc.get("decisions") or {}).items():
        lo, hi = (d.get("interval") or [None, None])
        lines.append(f"| {arm} vs {doc.get('baseline')} | {d['decision']} | "
                     f"{d.get('look') or ''} | {d.get('n', '')} | "
                     f"{_fmt_num(d.get('diff'), 3, True)} | [{_fmt_num(lo, 3, True)}, "
                     f"{_fmt_num(hi, 3, True)}] | {_p(d.get('p'))} | {_p(d.get('level'))} | "
                     f"{_fmt_num(d.get('mde_80'), 3)} | {d.get('seeds_for_sesoi') or ''} |")
    spent = doc.get("spent") or {}
    if spent:
        lines += ["", f"Final runs spent: {spent['final_runs']} (a fixed plan of the most seeds "
                      f"would have spent {spent['fixed_plan_runs']})."]
    return lines


def claims_markdown(doc: Dict[str, Any]) -> List[str]:
    """Each claim of the source with the study's verdict, comparison by comparison."""
    if not doc.get("claims"):
        return []
    lines = ["", "## The source's claims, judged by this study", "",
             "| claim | verdict | comparison | diff | interval | p (Holm; a decision: its look's p) "
             "| MDE (80%) | "
             "seeds for sesoi |", "|---|---|---|---|---|---|---|---|"]
    for c in doc["claims"]:
        for i, cmp in enumerate(c["comparisons"]):
            lo, hi = cmp.get("interval") or [None, None]
            p = cmp.get("p_holm", cmp.get("p"))
            lines.append(f"| {c['claim'] if i == 0 else ''} | {c['verdict'] if i == 0 else ''}"
                         f" | {c['arm']} vs {cmp['than']} ({c['metric']}): {cmp['verdict']} | "
                         f"{_fmt_num(cmp.get('diff'), 3, True)} | [{_fmt_num(lo, 3, True)}, "
                         f"{_fmt_num(hi, 3, True)}] | {_p(p)} | {_fmt_num(cmp.get('mde_80'), 3)}"
                         f" | {cmp.get('seeds_for_sesoi') or ''} |")
    return lines


def write_summary(doc: Dict[str, Any], root: Path) -> None:
    (root / "study.json").write_text(json.dumps(doc, indent=1, default=_clean) + "\n")
    (root / "study.md").write_text(study_markdown(doc, root))
    say(f"summary: {root / 'study.md'}, {root / 'study.json'}")
