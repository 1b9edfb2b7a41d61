"""`regstudy plot {gradflow,curves} RUN_DIR...`: several runs in one figure, from their records."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List

from ..report.run_plots import PlotError, plot_arms, plot_curves, plot_gradflow


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="regstudy plot",
                                description="Figures of one or several runs, from their metrics.json.")
    sub = p.add_subparsers(dest="kind", required=True, metavar="{gradflow,curves}")
    g = sub.add_parser("gradflow", help="mean and max |grad| per layer (log scale), runs overlaid")
    g.add_argument("dirs", nargs="+", type=Path, metavar="RUN_DIR")
    g.add_argument("-o", "--out", type=Path, default=Path("gradflow.png"),
                   help="output image (default: gradflow.png)")
    g.add_argument("--epoch", type=int, default=None,
                   help="epoch to show (default: the last one recorded in each run)")
    g.add_argument("--title", default=None)
    c = sub.add_parser("curves", help="train/val loss and accuracy over epochs, runs overlaid; "
                                      "with --key/--by: any history key, mean over seeds per arm")
    c.add_argument("dirs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run directories; with --key or --by also sweep directories")
    c.add_argument("-o", "--out", type=Path, default=Path("curves.png"),
                   help="output image (default: curves.png)")
    c.add_argument("--key", action="append", default=[], metavar="KEY",
                   help="a per-epoch history key, one panel each (repeatable), e.g. zsq/mean")
    c.add_argument("--by", action="append", default=[], metavar="OVERRIDE",
                   help="group runs into arms by this override key (repeatable), e.g. reg; "
                        "default with --key: every key that varies. Line: mean over seeds, "
                        "band: lowest to highest seed")
    c.add_argument("--logy", action="store_true", help="log scale on the y axis")
    return p


def main(argv: List[str]) -> int:
    args = parser().parse_args(argv)
    try:
        if args.kind == "gradflow":
            path = plot_gradflow(args.dirs, args.out, args.epoch, args.title)
        elif args.key or args.by:
            path = plot_arms(args.dirs, args.out, args.key, args.by, args.logy)
        else:
            path = plot_curves(args.dirs, args.out)
    except PlotError as err:
        print(f"regstudy plot: error: {err}", file=sys.stderr)
        return 2
    print(path)
    return 0
