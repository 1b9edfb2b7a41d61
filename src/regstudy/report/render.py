"""The text of `regstudy table DIR...`: the paper-style table over every run under some directories
(markdown, CSV or LaTeX), or an Optuna search's trials ranked by its objective."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Optional

from .runs import load_runs
from .search_table import is_search_dir, render_search
from .table import DISPLAY, parse_baseline, summarize, to_csv, to_latex, to_markdown

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
