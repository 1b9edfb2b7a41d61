"""The paper-style table over seeds: group runs, summarise one metric, compare with a baseline.

Runs are grouped by the overrides that differ between them, apart from the seed (and keys
that do not change results, see `runs.IGNORED_KEYS`). Each group gets the number of
completed seeds, mean ± std, a 95% t-interval and, against its baseline group, the
difference of means with Welch's t-test p-value. Runs that did not complete are counted
per group and listed under the table, never dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import pandas as pd

from . import stats
from .runs import METRICS

DEFAULT_LABEL = "(default)"   # a key some runs override and this one does not
STATUSES = ("completed", "diverged", "failed", "pruned", "interrupted", "running", "missing",
            "unreadable")

# metric -> (heading, scale for display, decimals)
DISPLAY = {
    "test_error": ("test error (%)", 100.0, 2),
    "test_acc": ("test acc (%)", 100.0, 2),
    "best_val_acc": ("best val acc (%)", 100.0, 2),
    "gap": ("train-test gap (%)", 100.0, 2),
    "epochs": ("epochs", 1.0, 1),
    "time": ("time (s)", 1.0, 1),
}


class BaselineError(ValueError):
    """--baseline names a key that does not vary, or a group that is not there."""


@dataclass
class Table:
    metric: str
    keys: List[str]                 # override keys that vary: one column each
    common: Dict[str, str]          # overrides every run shares
    groups: pd.DataFrame            # one row per group: keys, n, mean, std, ci, diff, p, counts
    incomplete: pd.DataFrame        # runs that did not complete: run_dir, status, seed, note
    baseline: Dict[str, str] = field(default_factory=dict)
    status_counts: Dict[str, int] = field(default_factory=dict)   # over all runs


def varying_keys(overrides: pd.Series) -> tuple[List[str], Dict[str, str]]:
    """Keys whose value is not the same in every run (in first-seen order), and the rest."""
    known = [ov for ov in overrides if ov is not None]
    keys: List[str] = []
    for ov in known:
        keys += [k for k in ov if k not in keys]
    varying = [k for k in keys if len({ov.get(k, DEFAULT_LABEL) for ov in known}) > 1]
    common = {k: known[0][k] for k in keys if k not in varying}
    return varying, common


def parse_baseline(spec: Optional[str]) -> Dict[str, str]:
    """'reg=none optim.lr=0.1' -> {'reg': 'none', 'optim.lr': '0.1'}."""
    if not spec:
        return {}
    out = {}
    for item in spec.split():
        if "=" not in item:
            raise BaselineError(f"--baseline {spec!r}: expected key=value pairs, got {item!r}")
        key, value = item.split("=", 1)
        out[key] = value
    return out


def _label_frame(runs: pd.DataFrame, keys: List[str]) -> pd.DataFrame:
    return pd.DataFrame([{k: ov.get(k, DEFAULT_LABEL) for k in keys} for ov in runs["overrides"]],
                        index=runs.index, columns=keys, dtype=object)


def _check_baseline(baseline: Dict[str, str], keys: List[str], labels: pd.DataFrame) -> None:
    for key, value in baseline.items():
        if key not in keys:
            raise BaselineError(f"--baseline {key}={value}: {key} does not vary across these runs "
                                f"(varying: {', '.join(keys) or 'none'})")
        if value not in set(labels[key]):
            raise BaselineError(f"--baseline {key}={value}: no run has it "
                                f"(values of {key}: {', '.join(sorted(set(labels[key])))})")


def summarize(runs: pd.DataFrame, metric: str = "test_error",
              baseline: Optional[Dict[str, str]] = None) -> Table:
    """Group `runs` (from `runs.load_runs`) and summarise `metric` per group.

    A group's baseline is the group with the same labels except the baseline keys, so
    `reg=none` compares each model with its own unregularized runs."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    baseline = dict(baseline or {})
    keys, common = varying_keys(runs["overrides"])
    labels = _label_frame(runs[runs["overrides"].notna()], keys)
    _check_baseline(baseline, keys, labels)
    values: Dict[tuple, List[float]] = {}
    rows = []
    for label, idx in _groups(labels):  # runs that say nothing of their config join no group
        group = runs.loc[idx]
        ok = group[(group["status"] == "completed") & group[metric].notna()]
        values[label] = ok[metric].tolist()
        s = stats.summarize(values[label])
        counts = group["status"].value_counts()
        rows.append({**dict(zip(keys, label)), "n": s.n, "mean": s.mean, "std": s.std,
                     "ci_low": s.ci_low, "ci_high": s.ci_high,
                     **{st: int(counts.get(st, 0)) for st in STATUSES},
                     "other": int(len(group) - counts.reindex(STATUSES, fill_value=0).sum())})
    if baseline:
        for row, label in zip(rows, values):
            row.update(_versus_baseline(label, keys, baseline, values))
        adjusted = stats.holm([row["p_value"] for row in rows])
        for row, p in zip(rows, adjusted):
            row["p_holm"] = float(p)
    incomplete = runs.loc[runs["status"] != "completed", ["run_dir", "status", "seed", "note"]]
    incomplete = incomplete.assign(group=[_label_text(labels.loc[i]) if i in labels.index
                                          else "config unknown" for i in incomplete.index])
    return Table(metric, keys, common, pd.DataFrame(rows), incomplete, baseline,
                 runs["status"].value_counts(sort=False).to_dict())


def _versus_baseline(label: tuple, keys: List[str], baseline: Dict[str, str],
                     values: Dict[tuple, List[float]]) -> Dict[str, object]:
    """Difference of means with its Welch 95% interval, Hedges' g and Welch p against the group
    that differs only in the baseline keys (Holm's adjustment is applied over all of them)."""
    ref = tuple(baseline.get(k, v) for k, v in zip(keys, label))
    mine, theirs = values[label], values.get(ref, [])
    d = stats.difference(mine, theirs)
    own = ref == label
    return {"baseline": own, "diff": d.diff,
            "diff_low": math.nan if own else d.low, "diff_high": math.nan if own else d.high,
            "hedges_g": math.nan if own else d.hedges_g,
            "p_value": math.nan if own else stats.welch_p(mine, theirs)}


def _groups(labels: pd.DataFrame):
    """(label tuple, row index) per group, in the order groups first appear."""
    if labels.shape[1] == 0:
        yield (), labels.index
        return
    for label, group in labels.groupby(list(labels.columns), sort=False):
        yield label, group.index   # a tuple: grouped by a list of keys


def _label_text(labels: pd.Series) -> str:
    return " ".join(f"{k}={v}" for k, v in labels.items())


# --- output ----------------------------------------------------------------------------------

def _fmt(x: float, scale: float, decimals: int, signed: bool = False) -> str:
    return "" if x is None or math.isnan(x) else f"{x * scale:{'+' if signed else ''}.{decimals}f}"


def _fewest_seeds(table: Table) -> List[int]:
    """Per group, the smaller n of the group and its baseline group."""
    g = table.groups
    n_of = {tuple(r[k] for k in table.keys): r["n"] for _, r in g.iterrows()}
    return [min(r["n"], n_of.get(tuple(table.baseline.get(k, r[k]) for k in table.keys), 0))
            for _, r in g.iterrows()]


def _interval(lo: float, hi: float, n: int, scale: float, dec: int, signed: bool = False) -> str:
    """'[lo, hi]'; where a group (or the baseline) has one seed there is none, and it says so."""
    if not math.isnan(lo):
        return f"[{_fmt(lo, scale, dec, signed)}, {_fmt(hi, scale, dec, signed)}]"
    return "no interval: 1 seed" if n == 1 else ""


def _p_text(p: float) -> str:
    if math.isnan(p):
        return ""
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _not_completed(row: pd.Series) -> str:
    parts = [f"{row[st]} {st}" for st in STATUSES[1:] if row[st]]
    if row["other"]:
        parts.append(f"{row['other']} other")
    return ", ".join(parts)


def display_frame(table: Table) -> pd.DataFrame:
    """The table as strings, as printed: one column per varying key, then the statistics."""
    heading, scale, dec = DISPLAY[table.metric]
    g = table.groups
    out = pd.DataFrame({k: g[k] for k in table.keys}) if table.keys else \
        pd.DataFrame({"runs": ["all"] * len(g)})
    out["n"] = g["n"].astype(str)
    out[f"{heading} mean ± std"] = [
        _fmt(m, scale, dec) + ("" if math.isnan(s) else f" ± {_fmt(s, scale, dec)}")
        for m, s in zip(g["mean"], g["std"])]
    out["95% CI"] = [_interval(lo, hi, n, scale, dec)
                     for lo, hi, n in zip(g["ci_low"], g["ci_high"], g["n"])]
    if table.baseline:
        out["diff vs baseline"] = ["baseline" if b else _fmt(d, scale, dec, signed=True)
                                   for b, d in zip(g["baseline"], g["diff"])]
        out["diff 95% CI (Welch)"] = [
            "" if b or math.isnan(d) else _interval(lo, hi, n, scale, dec, signed=True)
            for b, d, lo, hi, n in zip(g["baseline"], g["diff"], g["diff_low"], g["diff_high"],
                                       _fewest_seeds(table))]
        out["p (Welch)"] = [_p_text(p) for p in g["p_value"]]
        out["p (Holm)"] = [_p_text(p) for p in g["p_holm"]]
        out["Hedges' g"] = ["" if math.isnan(x) else f"{x:+.2f}" for x in g["hedges_g"]]
    out["not completed"] = [_not_completed(r) for _, r in g.iterrows()]
    return out


def _counts_line(table: Table) -> str:
    parts = ", ".join(f"{n} {st}" for st, n in table.status_counts.items())
    total = sum(table.status_counts.values())
    return f"{total} run{'s' if total != 1 else ''} ({parts})"


def notes(table: Table) -> List[str]:
    """What the numbers mean, the settings every run shares, and every run that did not complete."""
    lines = [f"{_counts_line(table)}; mean ± sample std over completed seeds, 95% CI of the mean "
             "from the t distribution (n-1 df)"
             + ("; diff = mean - baseline group's mean with its 95% Welch interval, p = Welch's "
               "two-sided t-test, Holm = p adjusted (Holm-Bonferroni) over every arm compared "
               "with a baseline, g = Hedges' g (bias-corrected standardised difference)"
               if table.baseline else "") + "."]
    if table.common:
        lines.append("Same in every run: " + " ".join(f"{k}={v}" for k, v in table.common.items()))
    if len(table.incomplete):
        lines.append("Runs that did not complete:")
        for _, r in table.incomplete.iterrows():
            seed = "" if r["seed"] is None or pd.isna(r["seed"]) else f" seed={int(r['seed'])}"
            lines.append(f"- {r['status']}: {r['run_dir']} ({r['group'] or 'all'}{seed})"
                         + (f": {r['note']}" if r["note"] else ""))
    return lines


def to_markdown(table: Table) -> str:
    body = display_frame(table).to_markdown(index=False, disable_numparse=True)
    return body + "\n\n" + "\n".join(notes(table)) + "\n"


def to_csv(table: Table) -> str:
    """Machine-readable: raw metric values (fractions, not percent), one row per group."""
    return table.groups.assign(metric=table.metric).to_csv(index=False)


def to_latex(table: Table) -> str:
    """A booktabs tabular; the notes go above it as LaTeX comments, so they need no escaping."""
    styler = display_frame(table).style.hide(axis="index").format(escape="latex")
    body = styler.format_index(escape="latex", axis=1).to_latex(hrules=True)
    return "".join(f"% {line}\n" for line in notes(table)) + body
