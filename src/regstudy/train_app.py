"""The Hydra application behind `regstudy train` (torch is imported only inside the job)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from .config.schema import register_configs
from .paths import config_dir

register_configs()

HYDRA_ONLY = {".hydra", "train.log"}
# Overrides that do not name a run in TensorBoard (paths, devices, Hydra's own settings).
TB_NAME_SKIP = ("hydra.", "search.", "dataset.root", "trainer.device", "trainer.progress")


def _discard_if_empty(run_dir: Path) -> None:
    """Remove a run directory that holds nothing but what Hydra wrote before the run aborted."""
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= HYDRA_ONLY:
        shutil.rmtree(run_dir, ignore_errors=True)


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
    problem = _mode_error(argv) or _writable_dir_error(argv)
    if problem:
        print(f"regstudy train: error: {problem}", file=sys.stderr)
        sys.exit(2)
    sys.argv = ["regstudy train", *argv]
    train()


def tb_run_name(hc) -> str:
    """In a sweep, the job's overrides (`reg=l2,seed=1`): TensorBoard then names each run by what
    it set instead of `<num>/tb`. A single run keeps its events directly in tb/."""
    from hydra.types import RunMode

    if hc.mode != RunMode.MULTIRUN:
        return ""
    shared = _shared_by_every_job(Path(hc.sweep.dir))
    keep = [o for o in hc.overrides.task if o not in shared
            and not o.split("=", 1)[0].lstrip("+~").startswith(TB_NAME_SKIP)]
    return ",".join(sorted(keep)).replace("/", "_")[:200] or f"job{hc.job.num}"


def _shared_by_every_job(sweep_dir: Path) -> set:
    """Overrides every job of the sweep's plan has: they name no run apart in TensorBoard."""
    from .record.plan import read_plan

    jobs = read_plan(sweep_dir) or []
    if len(jobs) < 2:
        return set()
    return set.intersection(*(set(j["overrides"]) for j in jobs))


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def train(cfg: DictConfig) -> float | None:
    from .search.job import trial_observers
    from .train.run import RunAborted, train_run

    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    try:
        record = train_run(cfg, run_dir, list(hc.overrides.task), tb_name=tb_run_name(hc),
                           extra_observers=trial_observers(cfg))
    except RunAborted as err:
        _discard_if_empty(run_dir)
        print(f"regstudy train: error: {err}", file=sys.stderr)
        sys.exit(2)
    return record.get("test_error")
