"""`regstudy report DIR... --out report.html`: one self-contained HTML page per study."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

from ..report.runs import METRICS, NoRunsError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regstudy report",
        description="One self-contained HTML page (figures and CSS inline, works offline) over "
                    "the runs under DIR...: what was studied, the table of `regstudy table` "
                    "with Holm-adjusted p-values and Hedges' g, learning curves, gradient flow "
                    "and <z^2> per arm, the search history where a search.json is present, and "
                    "every run that did not complete.")
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR",
                   help="run or sweep directories (searched recursively for metrics.json)")
    p.add_argument("-o", "--out", type=Path, default=Path("report.html"),
                   help="output file (default: report.html)")
    p.add_argument("--metric", choices=METRICS, default="test_error",
                   help="what the table summarises (default: test_error)")
    p.add_argument("--baseline", metavar="'KEY=VALUE ...'",
                   help="the group to compare with, e.g. 'reg=none' (as in regstudy table); "
                        "a baseline no run has is reported on the page, not an error")
    p.add_argument("--paired", action="store_true",
                   help="compare per-seed differences where a group and its baseline ran the "
                        "same seeds (as regstudy table --paired)")
    p.add_argument("--sesoi", type=float, default=0.0, metavar="X",
                   help="smallest effect of interest in the table's units: the seeds per arm "
                        "that would detect it (as regstudy table --sesoi)")
    return p


def main(argv: List[str]) -> int:
    args = parser().parse_args(argv)
    from ..report.page import write_report  # pandas and matplotlib: only once the args parse

    try:
        path = write_report(args.dirs, args.out, args.metric, args.baseline, argv, args.paired,
                            args.sesoi)
    except NoRunsError as err:
        print(f"regstudy report: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"regstudy report: error: cannot write {args.out}: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0
