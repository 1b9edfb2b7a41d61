"""`regstudy` command line: dispatches to one module per command (cli/train.py, table.py, plot.py,
report.py, probe.py, study.py), importing each, and what it needs, only when it is run."""

from __future__ import annotations

import sys
from typing import List, Optional

USAGE = """usage: regstudy <command> [args]

commands:
  train   train one configuration, or sweep with -m (Hydra overrides: key=value ...)
          e.g. regstudy train model=lenet5 dataset=fashion_mnist reg=l2 reg.l2.strength=1e-4
               regstudy train -m reg=none,l2,dropout seed=0,1,2
          regstudy train --help   lists config groups and options
  table   paper-style table over the runs under directories: regstudy table DIR...
  probe   signal and gradient variance at initialization, no training
  plot    figures from run directories: regstudy plot {gradflow,curves} RUN_DIR...
  report  one self-contained HTML page over a study: regstudy report DIR... --out report.html
  study   a preset's study: tune each arm on validation, re-train the winners on fresh seeds,
          report: regstudy study experiment=kung_regularization [--dry-run]

options:
  -h, --help     show this message
  --version      print the version
"""


def _train(argv: List[str]) -> int:
    from .train import main as train_main

    train_main(argv)
    return 0


def _table(argv: List[str]) -> int:
    from .table import main as table_main

    return table_main(argv)


def _plot(argv: List[str]) -> int:
    from .plot import main as plot_main

    return plot_main(argv)


def _report(argv: List[str]) -> int:
    from .report import main as report_main

    return report_main(argv)


def _probe(argv: List[str]) -> int:
    from .probe import main as probe_main

    return probe_main(argv)


def _study(argv: List[str]) -> int:
    from .study import main as study_main

    return study_main(argv)


COMMANDS = {"train": _train, "table": _table, "plot": _plot, "report": _report,
            "probe": _probe, "study": _study}


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if argv else 2
    if argv[0] == "--version":
        from .. import __version__

        print(f"regstudy {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"regstudy: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}\n",
              file=sys.stderr)
        print(USAGE, end="", file=sys.stderr)
        return 2
    return COMMANDS[command](rest) or 0

