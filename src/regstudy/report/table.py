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

from ..record.run_record import STATUSES
from . import stats
from .compare import PAIRED, WELCH, Comparison, compare
from .power import mde, seeds_needed
from .runs import METRICS

DEFAULT_LABEL = "(default)"   # a key some runs override and this one does not

# metric -> (heading, scale for display, decimals)
DISPLAY = {
    "test_error": ("test error (%)", 100.0, 2),
    "test_acc": ("test acc (%)", 100.0, 2),
    "best_val_acc": ("best val acc (%)", 100.0, 2),
    "gap": ("train-test gap (%)", 100.0, 2),
    "epochs": ("epochs", 1.0, 1),
    "time": ("time (s)", 1.0, 1),
    "zsq": ("final <z²> val", 1.0, 3),
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
    paired: bool = False            # pair by seed where a group and its baseline share seeds
    sesoi: float = 0.0              # smallest effect of interest (metric units), 0 = none


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


def _by_seed(group: pd.DataFrame) -> Dict[int, float]:
    """seed -> value of the completed runs; {} when a seed repeats (nothing to pair by)."""
    seeds = [int(s) for s in group["seed"] if s is not None and not pd.isna(s)]
    if len(seeds) != len(group) or len(set(seeds)) != len(seeds):
        return {}
    return dict(zip(seeds, group["value"]))


def summarize(runs: pd.DataFrame, metric: str = "test_error",
              baseline: Optional[Dict[str, str]] = None, paired: bool = False,
              sesoi: float = 0.0) -> Table:
    """Group `runs` (from `runs.load_runs`) and summarise `metric` per group.

    A group's baseline is the group with the same labels except the baseline keys, so
    `reg=none` compares each model with its own unregularized runs. `paired`: compare by
    per-seed differences where a group and its baseline have the same seeds (Welch else)."""
    if metric not in METRICS:
        raise ValueError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    baseline = dict(baseline or {})
    keys, common = varying_keys(runs["overrides"])
    labels = _label_frame(runs[runs["overrides"].notna()], keys)
    _check_baseline(baseline, keys, labels)
    values: Dict[tuple, List[float]] = {}
    seeded: Dict[tuple, Dict[int, float]] = {}
    rows = []
    for label, idx in _groups(labels):  # runs that say nothing of their config join no group
        group = runs.loc[idx]
        ok = group[(group["status"] == "completed") & group[metric].notna()]
        values[label] = ok[metric].tolist()
        seeded[label] = _by_seed(ok.assign(value=ok[metric]))
        s = stats.summarize(values[label])
        counts = group["status"].value_counts()
        rows.append({**dict(zip(keys, label)), "n": s.n, "mean": s.mean, "std": s.std,
                     "ci_low": s.ci_low, "ci_high": s.ci_high,
                     **{st: int(counts.get(st, 0)) for st in STATUSES},
                     "other": int(len(group) - counts.reindex(STATUSES, fill_value=0).sum())})
    if baseline:
        for row, label in zip(rows, values):
            row.update(_versus_baseline(label, keys, baseline, values, seeded, paired, sesoi))
        adjusted = stats.holm([row["p_value"] for row in rows])
        for row, p in zip(rows, adjusted):
            row["p_holm"] = float(p)
    incomplete = runs.loc[runs["status"] != "completed", ["run_dir", "status", "seed", "note"]]
    incomplete = incomplete.assign(group=[_label_text(labels.loc[i]) if i in labels.index
                                          else "config unknown" for i in incomplete.index])
    return Table(metric, keys, common, pd.DataFrame(rows), incomplete, baseline,
                 runs["status"].value_counts(sort=False).to_dict(), paired, sesoi)


def _versus_baseline(label: tuple, keys: List[str], baseline: Dict[str, str],
                     values: Dict[tuple, List[float]], seeded: Dict[tuple, Dict[int, float]],
                     paired: bool, sesoi: float) -> Dict[str, object]:
    """Difference of means with its 95% interval (paired by seed, or Welch), the p-value of
    the same test, Hedges' g, the minimum detectable effect at 80 % power and the seeds it
    would take to detect `sesoi`, against the group that differs only in the baseline keys
    (Holm's adjustment is applied over all of them)."""
    ref = tuple(baseline.get(k, v) for k, v in zip(keys, label))
    mine, theirs = values[label], values.get(ref, [])
    own = ref == label
    d = stats.difference(mine, theirs)
    arm, base = seeded.get(label, {}), seeded.get(ref, {})
    pairable = paired and len(arm) == len(mine) and len(base) == len(theirs) and \
        len(mine) >= 2 and set(arm) == set(base)
    c = compare(arm, base, PAIRED) if pairable else _welch(mine, theirs)
    lo, hi = c.interval() if pairable else (d.low, d.high)
    needed = seeds_needed(c, sesoi) if sesoi > 0 and not own else None
    return {"baseline": own, "diff": d.diff, "method": "" if own else c.method,
            "diff_low": math.nan if own else lo, "diff_high": math.nan if own else hi,
            "hedges_g": math.nan if own else d.hedges_g,
            "p_value": math.nan if own else (c.p if pairable else stats.welch_p(mine, theirs)),
            "mde": math.nan if own else mde(c), "seeds_needed": needed}


def _welch(mine: List[float], theirs: List[float]) -> Comparison:
    from .compare import welch

    return welch(dict(enumerate(mine)), dict(enumerate(theirs)))


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

def short_label(value: object) -> object:
    """A sampled float such as 0.00012345678901234567 shown with 3 significant digits (the CSV
    keeps the exact value); anything else as it is."""
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return value
    digits = len(text.lstrip("+-0.").replace(".", "").split("e")[0])
    return f"{number:.3g}" if digits > 4 and "." in text else value


def _fmt(x: float, scale: float, decimals: int, signed: bool = False) -> str:
    return "" if x is None or math.isnan(x) else f"{x * scale:{'+' if signed else ''}.{decimals}f}"


def _fewest_seeds(table: Table) -> List[int]:
    """Per group, the smaller n of the group and its baseline group."""
    g = table.groups
    n_of = {tuple(r[k] for k in table.keys): r["n"] for _, r in g.iterrows()}
    return [min(r["n"], n_of.get(tuple(table.baseline.get(k, r[k]) for k in table.keys), 0))
            for _, r in g.iterrows()]


BOUNDED = {"test_error", "test_acc", "best_val_acc"}   # fractions in [0, 1]


def _interval(lo: float, hi: float, n: int, scale: float, dec: int, signed: bool = False,
              span: float = math.inf) -> str:
    """'[lo, hi]'; where a group (or the baseline) has one seed there is none, and it says so;
    an interval wider than the metric's whole range (an error rate below 0 %) says it is
    uninformative instead of printing impossible values."""
    if not math.isnan(lo):
        if hi - lo > span:
            return f"uninformative (n={n})"
        return f"[{_fmt(lo, scale, dec, signed)}, {_fmt(hi, scale, dec, signed)}]"
    return "no interval: 1 seed" if n == 1 else ""


def _mean_interval(lo: float, hi: float, n: int, metric: str, scale: float, dec: int) -> str:
    """The CI of a mean, bounded metrics: outside [0, 1] means it is uninformative."""
    if metric in BOUNDED and not math.isnan(lo) and (lo < 0 or hi > 1):
        return f"uninformative (n={n}): [{_fmt(max(lo, 0.0), scale, dec)}, " \
               f"{_fmt(min(hi, 1.0), scale, dec)}] clipped"
    return _interval(lo, hi, n, scale, dec)


def _ci_heading(methods: List[str]) -> str:
    used = sorted({m for m in methods if m})
    return "diff 95% CI (" + ("paired" if used == [PAIRED] else "Welch" if used == [WELCH]
                              else "paired or Welch, see test") + ")"


def _p_text(p: float) -> str:
    if math.isnan(p):
        return ""
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _not_completed(row: pd.Series) -> str:
    """'1 interrupted, 2 failed': counts as integers (iterrows makes a mixed row all floats)."""
    parts = [f"{int(row[st])} {st}" for st in STATUSES[1:] if row[st]]
    if row["other"]:
        parts.append(f"{int(row['other'])} other")
    return ", ".join(parts)


def display_frame(table: Table) -> pd.DataFrame:
    """The table as strings, as printed: one column per varying key, then the statistics."""
    heading, scale, dec = DISPLAY[table.metric]
    g = table.groups
    out = pd.DataFrame({k: g[k].map(short_label) for k in table.keys}) if table.keys else \
        pd.DataFrame({"runs": ["all"] * len(g)})
    out["n"] = g["n"].astype(str)
    out[f"{heading} mean ± std"] = [
        _fmt(m, scale, dec) + ("" if math.isnan(s) else f" ± {_fmt(s, scale, dec)}")
        for m, s in zip(g["mean"], g["std"])]
    out["95% CI"] = [_mean_interval(lo, hi, n, table.metric, scale, dec)
                     for lo, hi, n in zip(g["ci_low"], g["ci_high"], g["n"])]
    if table.baseline:
        out["diff vs baseline"] = ["baseline" if b else _fmt(d, scale, dec, signed=True)
                                   for b, d in zip(g["baseline"], g["diff"])]
        span = 1.0 if table.metric in BOUNDED else math.inf
        methods = list(g["method"])
        out[_ci_heading(methods)] = [
            "" if b or math.isnan(d) else _interval(lo, hi, n, scale, dec, True, 2 * span)
            for b, d, lo, hi, n in zip(g["baseline"], g["diff"], g["diff_low"], g["diff_high"],
                                       _fewest_seeds(table))]
        if len({m for m in methods if m}) > 1:
            out["test"] = methods
        out["p"] = [_p_text(p) for p in g["p_value"]]
        out["p (Holm)"] = [_p_text(p) for p in g["p_holm"]]
        out["Hedges' g"] = ["" if math.isnan(x) else f"{x:+.2f}" for x in g["hedges_g"]]
        out["MDE (80% power)"] = [_fmt(x, scale, dec) for x in g["mde"]]
        if table.sesoi > 0:
            out[f"seeds to detect {_fmt(table.sesoi, scale, dec)}"] = [
                "" if b or math.isnan(m) else ("> 10000" if n is None or pd.isna(n)
                                               else str(int(n)))
                for b, n, m in zip(g["baseline"], g["seeds_needed"], g["mde"])]
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
             + ("; diff = mean - baseline group's mean with its 95% interval and two-sided p of "
               + ("the paired t-test over per-seed differences where a group and its baseline "
                  "ran the same seeds (a seed fixes data order, init and dropout masks, so "
                  "pairing removes the noise they share), Welch's t-test otherwise"
                  if table.paired else "Welch's t-test (unpaired; --paired pairs by seed)")
               + ", Holm = p adjusted (Holm-Bonferroni) over every arm compared with a baseline, "
               "g = Hedges' g (bias-corrected standardised difference), MDE = the smallest true "
               "difference this test detects with 80% power at alpha 0.05 for the seeds it had "
               "and the noise it measured"
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
