"""A one-node SLURM cluster for the `slurm` tests and the SLURM benchmark: started with
scripts/slurm_cluster.sh when its packages are installed and this is root, reused when one
already answers, stopped at the end only when started here."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
DAEMONS = ("slurmctld", "slurmd", "slurmdbd", "munged", "mariadbd", "sbatch", "sacct")

# What every SLURM sweep of the tests passes: one CPU per job on the default partition.
LAUNCHER = ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"]


def cluster_dir() -> Path:
    return Path(os.environ.get("REGSTUDY_SLURM_DIR", "/tmp/regstudy-slurm"))


def slurm_env() -> Dict[str, str]:
    return {"SLURM_CONF": str(cluster_dir() / "slurm.conf")}


def answers() -> bool:
    """True when the cluster of cluster_dir() is up (its controller answers)."""
    if not (cluster_dir() / "slurm.conf").is_file() or shutil.which("scontrol") is None:
        return False
    res = subprocess.run(["scontrol", "ping"], env={**os.environ, **slurm_env()},
                         capture_output=True, text=True, timeout=30)
    return res.returncode == 0 and "UP" in res.stdout


def why_unavailable() -> Optional[str]:
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if missing:
        return (f"SLURM not installed ({', '.join(missing)} missing): apt-get install slurm-wlm "
                "munge slurmdbd mariadb-server")
    if os.geteuid() != 0:
        return "starting a SLURM cluster needs root"
    return None


def start() -> bool:
    """Start the cluster; True when this call started it (False: it was already up)."""
    if answers():
        return False
    res = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True,
                         timeout=300)
    if res.returncode != 0:
        raise RuntimeError(f"scripts/slurm_cluster.sh start failed: {res.stderr[-1500:]}")
    return True


def stop() -> None:
    subprocess.run(["bash", str(SCRIPT), "stop"], capture_output=True, text=True, timeout=120)


def squeue(job: str, fmt: str = "%T") -> str:
    """The job's field `fmt` while SLURM lists it (pending, running, completing), else ''."""
    res = subprocess.run(["squeue", "-h", "-j", job, "-o", fmt], env={**os.environ, **slurm_env()},
                         capture_output=True, text=True, timeout=30)
    return res.stdout.strip() if res.returncode == 0 else ""


def slurm(*args: str) -> str:
    res = subprocess.run(list(args), env={**os.environ, **slurm_env()}, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, f"{' '.join(args)}: {res.stderr}"
    return res.stdout.strip()


def job_ids(sweep_dir: Path) -> List[str]:
    """SLURM job ids of a sweep's jobs, from submitit's folders (.submitit/<job id>/)."""
    sub = Path(sweep_dir) / ".submitit"
    return sorted(p.name for p in sub.iterdir() if p.is_dir()) if sub.is_dir() else []


# sacct states of a job SLURM has not ended yet.
ACTIVE_STATES = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "RESIZING",
                 "SUSPENDED", "SIGNALING", "STAGE_OUT", "REQUEUE_HOLD", "REQUEUE_FED"}


def final_states(ids: List[str], timeout: float = 120) -> List[str]:
    """The sacct states of jobs `ids` once SLURM has ended every one of them.

    A sweep returns when each job's result file exists (submitit's test of a finished job);
    the job's process then still exits (the interpreter and torch shut down), and SLURM
    records the end after that: seconds later, more on a loaded machine."""
    def states() -> List[str]:
        return slurm("sacct", "-n", "-X", "-P", "-o", "State", "-j", ",".join(ids)).split()

    wait_for(lambda: not ACTIVE_STATES.intersection(states()), timeout, "SLURM to end the jobs",
             poll=1.0)
    return states()


def job_logs(sweep_dir: Path) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in sorted((Path(sweep_dir) / ".submitit").rglob("*_log.*")))


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)
