"""`regstudy table DIR...`: the paper-style table over every run under some directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Iterable, List, Optional

from .runs import METRICS, NoRunsError, load_runs
from .search_table import is_search_dir, render_search
from .table import DISPLAY, BaselineError, parse_baseline, summarize, to_csv, to_latex, to_markdown

FORMATS = {"markdown": to_markdown, "csv": to_csv, "latex": to_latex}


def render(dirs: Iterable[Path], metric: str = "test_error", baseline: Optional[str] = None,
           fmt: str = "markdown", top: Optional[int] = None, paired: bool = False,
           sesoi: float = 0.0) -> str:
    """The table of the runs under `dirs` as text; raises NoRunsError / BaselineError.
    An Optuna search directory gets its trials ranked by the objective instead."""
    dirs = list(dirs)
    if is_search_dir(dirs):
        return render_search(dirs, fmt, top)
    scale = DISPLAY[metric][1]
    table = summarize(load_runs(dirs), metric, parse_baseline(baseline), paired, sesoi / scale)
    return FORMATS[fmt](table)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regstudy table",
        description="Group the runs under DIR... by the overrides that vary apart from the seed, "
                    "and print per group: completed seeds, mean ± std, 95% CI (t distribution), "
                    "and the difference to a baseline group with its 95% interval (Welch's, or "
                    "paired by seed with --paired), the test's p-value, Holm's adjusted p-value "
                    "over every arm compared with a baseline, Hedges' g and the minimum "
                    "detectable effect at 80% power. Runs that "
                    "failed, diverged or were killed are counted and listed, never dropped.")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="run or sweep directories (searched recursively for metrics.json)")
    p.add_argument("--metric", choices=METRICS, default="test_error",
                   help="what to summarise (default: test_error; gap = train acc - test acc of "
                        "the selected model; time = wall-clock seconds)")
    p.add_argument("--baseline", metavar="'KEY=VALUE ...'",
                   help="the group to compare with, e.g. 'reg=none'; other varying keys are "
                        "matched, so each model is compared with its own baseline")
    p.add_argument("--paired", action="store_true",
                   help="compare per-seed differences where a group and its baseline ran the "
                        "same seeds (paired t-test; Welch where they did not)")
    p.add_argument("--sesoi", type=float, default=0.0, metavar="X",
                   help="smallest effect of interest in the table's units (percentage points "
                        "for errors and accuracies): adds the seeds per arm that would detect it "
                        "with 80%% power at the measured noise")
    p.add_argument("--top", type=int, metavar="K", nargs="?", const=0,
                   help="search directories: only the K best trials (by the search objective); "
                        "without K the best trial, or a multi-objective search's Pareto front")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", dest="fmt", action="store_const", const="csv",
                     help="CSV with raw values (fractions, not percent)")
    out.add_argument("--latex", dest="fmt", action="store_const", const="latex",
                     help="LaTeX booktabs tabular")
    p.set_defaults(fmt="markdown")
    return p


def main(argv: List[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if args.sesoi < 0:
            raise BaselineError(f"--sesoi {args.sesoi}: must be > 0 (or 0 for none)")
        text = render(args.dirs, args.metric, args.baseline, args.fmt, args.top, args.paired,
                      args.sesoi)
    except (NoRunsError, BaselineError) as err:
        print(f"regstudy table: error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
