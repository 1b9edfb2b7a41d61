"""`regstudy table DIR...`: the paper-style table over every run under some directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

from ..report.render import render
from ..report.runs import METRICS, NoRunsError
from ..report.table import BaselineError


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
