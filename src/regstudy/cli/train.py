"""The Hydra application behind `regstudy train` (torch is imported only inside the job)."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from ..config.errors import added_key_problem, composition_line, sweep_problem
from ..config.schema import register_configs
from ..paths import config_dir
from ..record.lock import LEASE_FILE, LOCK_FILE
from ..record.run_record import override_key
from ..search.config import register_plugin
from ..sweep.jobs import (
    JobLines,
    PoolWorker,
    continue_command,
    is_multirun,
    link_latest,
    unlink_latest,
    user_set_run_dir,
)
from ..sweep.stop import SweepStop

register_configs()
register_plugin()   # hydra/sweeper=optuna, also where Hydra's plugin scan cannot see it

log = logging.getLogger("regstudy")
HYDRA_ONLY = {".hydra", "train.log", LOCK_FILE, LEASE_FILE}
# Set to the pid of the process that runs `regstudy train`: a job in another process is in a pool.
SWEEP_PID_ENV = "REGSTUDY_SWEEP_PID"
# Set on an exception the job itself raised (as opposed to one of composing its config).
TASK_ERROR = "_regstudy_task_error"
# Overrides that do not name a run in TensorBoard (paths, devices, Hydra's own settings).
TB_NAME_SKIP = ("hydra.", "search.", "dataset.root", "trainer.device", "trainer.progress")


def _discard_if_empty(run_dir: Path, hc) -> None:
    """Remove a run directory that holds nothing but what Hydra wrote before the run aborted,
    and, for Hydra's timestamped default directory, the `outputs/<name>/` it made for it."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= HYDRA_ONLY:
        shutil.rmtree(run_dir, ignore_errors=True)
        unlink_latest(hc, run_dir)
        if not is_multirun(hc) and not user_set_run_dir(hc):
            for folder in (run_dir.parent, run_dir.parent.parent):   # outputs/<name>, outputs
                try:
                    folder.rmdir()   # only when empty: other runs stay
                except OSError:
                    break


def _writable_dir_error(argv: list[str]) -> str | None:
    """Check the output directory a run or sweep will create, before Hydra tries to."""
    for arg in argv:
        key, _, value = arg.partition("=")
        if key not in ("hydra.run.dir", "hydra.sweep.dir") or not value or "$" in value:
            continue
        parent = Path(value).absolute()
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        try:
            tempfile.TemporaryDirectory(dir=parent).cleanup()
        except OSError as err:
            return f"{key}={value}: cannot create the output directory ({err.strerror} in {parent})"
    return None


# Hydra's modes that cannot be combined with -m (it raises a ValueError with a traceback).
SINGLE_RUN_FLAGS = ("-c", "--cfg", "-i", "--info", "-sc", "--shell-completion", "-r", "--run")


def _mode_error(argv: list[str]) -> str | None:
    """-m with --cfg/--info: Hydra prints one run's config only, and refuses the pair."""
    flags = {a.split("=", 1)[0] for a in argv if a.startswith("-")}
    clash = sorted(flags & set(SINGLE_RUN_FLAGS))
    if not flags & {"-m", "--multirun"} or not clash:
        return None
    return (f"-m cannot be combined with {clash[0]}: it shows one run's config; drop -m and give "
            "one value per swept key, e.g. regstudy train hydra/launcher=submitit_slurm "
            "--cfg hydra")


def main(argv: list[str]) -> None:
    """Entry point of `regstudy train ARGS`: checks what Hydra would fail on, then runs it."""
    from ..search.syntax import command_line_error

    multirun = any(a in ("-m", "--multirun") for a in argv)
    problem = _mode_error(argv) or command_line_error(argv) or _writable_dir_error(argv) or \
        added_key_problem(argv) or (sweep_problem(argv) if multirun else None)
    if problem:
        _fail(problem)
    sys.argv = ["regstudy train", *argv]
    stop = SweepStop().install() if multirun else None
    saved_pid = os.environ.get(SWEEP_PID_ENV)
    os.environ[SWEEP_PID_ENV] = str(os.getpid())
    try:
        _run_reporting_composition_errors()
    finally:
        _restore_env(SWEEP_PID_ENV, saved_pid)
        if stop is not None:
            stop.uninstall()


def _fail(problem: str) -> NoReturn:
    print(f"regstudy train: error: {problem}", file=sys.stderr)
    sys.exit(2)


def _run_reporting_composition_errors() -> None:
    """Run Hydra with its errors raised to here: a composition error (unknown key or option,
    wrong type) becomes one line and exit 2; anything else is reported as Hydra would. With
    HYDRA_FULL_ERROR=1 set by the user, Hydra's full text and traceback are shown instead."""
    from hydra._internal.utils import run_and_report

    user_full = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        train()
    except Exception as err:
        line = None if getattr(err, TASK_ERROR, False) else composition_line(err)
        _restore_env("HYDRA_FULL_ERROR", user_full)
        if user_full == "1" or line is None:
            run_and_report(functools.partial(_reraise, err))   # Hydra's own report (exit 1)
        _fail(line)
    finally:
        _restore_env("HYDRA_FULL_ERROR", user_full)


def _reraise(err: BaseException) -> NoReturn:
    raise err


def _restore_env(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value


def tb_run_name(hc) -> str:
    """In a sweep, the job's overrides (`reg=l2,seed=1`): TensorBoard then names each run by what
    it set instead of `<num>/tb`. A single run keeps its events directly in tb/."""
    from hydra.types import RunMode

    if hc.mode != RunMode.MULTIRUN:
        return ""
    shared = _shared_by_every_job(Path(hc.sweep.dir))
    keep = [o for o in hc.overrides.task if o not in shared
            and not override_key(o).startswith(TB_NAME_SKIP)]
    return ",".join(sorted(keep)).replace("/", "_")[:200] or f"job{hc.job.num}"


def _shared_by_every_job(sweep_dir: Path) -> set:
    """Overrides every job of the sweep's plan has: they name no run apart in TensorBoard."""
    from ..record.run_record import read_plan

    jobs = read_plan(sweep_dir) or []
    if len(jobs) < 2:
        return set()
    return set.intersection(*(set(j["overrides"]) for j in jobs))


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train(cfg: DictConfig) -> float | None:
    from ..record.lock import RunLocked
    from ..search.job import trial_observers
    from ..training.run import RunAborted, train_run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    job, worker = JobLines(hc).install(), PoolWorker(hc, os.environ.get(SWEEP_PID_ENV))
    if worker.refuses_job():
        log.warning("the sweep is stopping: job %s not started", hc.job.num)
        job.uninstall()
        return None
    log.info("run directory: %s", run_dir)
    link_latest(hc, run_dir)
    try:
        record = train_run(cfg, run_dir, list(hc.overrides.task), tb_name=tb_run_name(hc),
                           extra_observers=trial_observers(cfg))
    except RunAborted as err:
        _discard_if_empty(run_dir, hc)
        job.uninstall()
        _fail(str(err))
    except RunLocked as err:
        log.warning("%s", err)
        return None
    except Exception as err:   # the run's own failure: Hydra reports it, never as a config error
        setattr(err, TASK_ERROR, True)
        raise
    except (KeyboardInterrupt, SystemExit):
        kept = "keeps its checkpoint" if (run_dir / "checkpoint.pt").is_file() else \
            "has no checkpoint yet (it starts from the beginning)"
        log.error("interrupted; %s %s. Continue with: %s", run_dir, kept,
                  continue_command(hc, run_dir, int(cfg.trainer.threads)))
        worker.job_stopped()
        raise
    else:
        log.info("%s; run directory: %s", _result_words(record), run_dir)
    finally:
        job.uninstall()
    return record.get("test_error")


def _result_words(record: dict) -> str:
    status = record.get("status")
    if record.get("test_acc") is not None:
        return f"{status}, test acc {record['test_acc']:.4f}"
    return f"{status} ({record.get('stop_reason') or record.get('error') or 'no test'})"
