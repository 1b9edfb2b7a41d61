"""regstudy from Python (a notebook, a script): train one run, load runs as a table.

    import regstudy
    record = regstudy.train(["model=lenet5", "reg=l2", "trainer.epochs=5"], run_dir="runs/l2")
    record.status, record.get("test_acc"), record.history[-1]["val_acc"]
    runs = regstudy.load("multirun/2026-01-01_12-00-00")   # one row per run

`train` runs exactly what `regstudy train OVERRIDES hydra.run.dir=RUN_DIR` runs, in this
process, and logs one line per epoch; `load` reads what `regstudy table` reads. Both are
imported only when first used, so `import regstudy` stays light (no torch).
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence, Union

from .record.run_record import RunRecord

if TYPE_CHECKING:   # pandas only when `load` runs
    import pandas as pd

PathLike = Union[str, Path]
LOGGER = "regstudy"


@contextmanager
def _epoch_lines(verbose: bool) -> Iterator[None]:
    """The run's log lines (one per epoch) on stdout while it trains: outside `regstudy train`
    Python's logging is usually not set up for INFO, and a notebook would show nothing."""
    if not verbose:
        yield
        return
    log = logging.getLogger(LOGGER)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = log.level, log.propagate
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False   # shown once, whatever the root logger does
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def train(overrides: Sequence[str] = (), run_dir: Optional[PathLike] = None, *,
          verbose: bool = True) -> RunRecord:
    """Train one run of `configs/train.yaml` with Hydra-style `overrides` into `run_dir`
    (default: outputs/NAME/DATE_TIME, as `regstudy train`) and return its record.

    As on the command line, a finished run already in `run_dir` with the same config is not
    trained again, and an interrupted one continues from its checkpoint (`trainer.resume`).
    A config error raises `regstudy.training.run.RunAborted` with one line per problem.
    `verbose=False` prints nothing and leaves the run's log lines to your logging setup."""
    from .config.compose import compose
    from .training.run import train_run

    overrides = [str(o) for o in overrides]
    cfg = compose(overrides)
    if run_dir is None:
        run_dir = Path("outputs") / str(cfg.name) / time.strftime("%Y-%m-%d_%H-%M-%S")
    with _epoch_lines(verbose):
        data = train_run(cfg, Path(run_dir), overrides)
    return RunRecord(Path(run_dir), data)


def load(*dirs: PathLike) -> pd.DataFrame:
    """Every run at or below `dirs` (a run directory, a sweep, a study), one row per run.

    Columns: run_dir, status, seed, note, the metrics `regstudy table` summarises
    (test_error, test_acc, best_val_acc, gap, epochs, time, zsq), then one column per
    override key that some run sets (its value as written; missing where a run does not set
    it). A sweep's planned jobs without a directory are rows with status `missing`. The full
    record of a row: `regstudy.RunRecord.load(row.run_dir)`."""
    import pandas as pd

    from .report.runs import load_runs

    if not dirs:
        raise TypeError("load() needs at least one directory")
    frame = load_runs([Path(d) for d in dirs])
    params = pd.DataFrame([o or {} for o in frame["overrides"]], index=frame.index, dtype=object)
    params = params[[c for c in params.columns if c not in frame.columns]]
    return pd.concat([frame.drop(columns="overrides"), params], axis=1)
