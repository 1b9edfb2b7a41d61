"""regstudy under SLURM: a sweep's overhead per job beside the same sweep under joblib, and how
long a requeued job takes to train again.

Needs a SLURM cluster whose clients find it through SLURM_CONF; without one it starts the
one-node cluster of scripts/slurm_cluster.sh (root and Debian's slurm-wlm, munge, slurmdbd,
mariadb-server) and stops it at the end.

  sweep:   `regstudy train -m reg=none,l2 seed=0,1` (4 jobs, 2 at a time: joblib n_jobs=2, or
           submitit_slurm with 1 CPU per job on a 2-CPU node), --reps times, interleaved. Per-job
           overhead = (sweep wall time x 2 slots - the jobs' own wall_time_s) / 4: what a job
           costs beyond its run (interpreter, imports, data, scheduling, polling).
  requeue: one job of 2 longer epochs, `scontrol requeue` (or preemption by the partition
           `high`) once it trains; the delay is from the requeue to the resumed job logging
           "resuming", and to its SLURM state RUNNING again.

    python -m bench.slurm --out results --name slurm --reps 2 --requeues 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "slurm_cluster.sh"
SWEEP = ["reg=none,l2", "seed=0,1", "dataset.subset=2000", "dataset.val_size=500",
         "dataset.test_subset=1000", "trainer.epochs=1", "trainer.batch_size=50",
         "diag.enabled=false"]
LONG = ["dataset.subset=8000", "dataset.val_size=100", "dataset.test_subset=300",
        "trainer.batch_size=20", "trainer.epochs=2", "reg=dropout", "seed=3",
        "diag.enabled=false", "trainer.progress=bar"]   # the bar says when an epoch starts
LAUNCHERS = {
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "slurm": ["hydra/launcher=submitit_slurm", "hydra.launcher.partition=debug",
              "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1"],
}


def sh(*args: str, check: bool = True) -> str:
    res = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if check and res.returncode != 0:
        sys.exit(f"{' '.join(args)} failed: {res.stderr}")
    return res.stdout.strip()


def cluster_up() -> bool:
    return subprocess.run(["scontrol", "ping"], capture_output=True, text=True,
                          timeout=30).stdout.count("UP") > 0


def regstudy(args: List[str], log: Path) -> subprocess.Popen:
    out = open(log, "w")
    return subprocess.Popen([sys.executable, "-m", "regstudy.cli", *args], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO)


def one_sweep(launcher: str, sweep_dir: Path) -> Dict[str, float]:
    start = time.monotonic()
    proc = regstudy(["train", "-m", *LAUNCHERS[launcher], *SWEEP, f"hydra.sweep.dir={sweep_dir}"],
                    sweep_dir.with_suffix(".log"))
    if proc.wait(timeout=1800) != 0:
        sys.exit(f"{launcher} sweep failed; see {sweep_dir.with_suffix('.log')}")
    wall = time.monotonic() - start
    runs = [json.loads(p.read_text()) for p in sweep_dir.glob("*/metrics.json")]
    assert len(runs) == 4 and all(r["status"] == "completed" for r in runs), sweep_dir
    run_wall = sum(r["wall_time_s"] for r in runs)
    return {"wall_s": wall, "mean_run_wall_s": run_wall / 4,
            "overhead_per_job_s": (2 * wall - run_wall) / 4}


def job_logs(sweep_dir: Path) -> str:
    return "".join(p.read_text(errors="replace")
                   for p in sorted((sweep_dir / ".submitit").rglob("*_log.*")))


def wait_for(predicate, timeout: float = 600, poll: float = 0.2) -> float:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit("timed out waiting")
        time.sleep(poll)
    return time.monotonic()


def one_requeue(sweep_dir: Path, how: str) -> Dict[str, float]:
    """Start a job, stop it `how` (requeue | preempt) while it trains, time its way back."""
    proc = regstudy(["train", "-m", *LAUNCHERS["slurm"], *LONG, f"hydra.sweep.dir={sweep_dir}"],
                    sweep_dir.with_suffix(".log"))
    sub = sweep_dir / ".submitit"
    wait_for(lambda: sub.is_dir() and "epoch 1/2:" in job_logs(sweep_dir))
    time.sleep(1.5)
    job = next(p.name for p in sub.iterdir() if p.is_dir())
    t0 = time.monotonic()
    if how == "requeue":
        sh("scontrol", "requeue", job)
    else:
        cpus = sh("sinfo", "-h", "-p", "high", "-o", "%c").split()[0]
        sh("sbatch", "-p", "high", "-c", cpus, "-o", "/dev/null", "--wrap", "sleep 1")
    wait_for(lambda: sh("squeue", "-h", "-j", job, "-o", "%T", check=False) != "RUNNING")
    t_running = wait_for(lambda: sh("squeue", "-h", "-j", job, "-o", "%T", check=False)
                         == "RUNNING")
    t_resumed = wait_for(lambda: "from its checkpoint" in job_logs(sweep_dir))
    if proc.wait(timeout=1800) != 0:
        sys.exit(f"requeued sweep failed; see {sweep_dir.with_suffix('.log')}")
    record = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    assert record["status"] == "completed" and "resumed_at_epoch" in record
    inside = re.search(r"checkpoint written (inside epoch \d+|after epoch \d+)", job_logs(sweep_dir))
    return {"to_running_s": t_running - t0, "to_resumed_s": t_resumed - t0,
            "checkpoint": inside.group(1) if inside else "?"}


def cluster_settings() -> Dict[str, str]:
    conf = sh("scontrol", "show", "config")
    keys = ("SchedulerParameters", "AuthInfo", "KillWait", "SelectTypeParameters", "TaskPlugin",
            "PreemptType", "SLURM_VERSION")
    return {k.strip(): v.strip() for line in conf.splitlines() if "=" in line
            for k, v in [line.split("=", 1)] if k.strip() in keys}


def write_md(path: Path, data: dict) -> None:
    sweeps, requeues = data["sweeps"], data["requeues"]
    lines = ["| launcher | rep | sweep wall (s) | mean run wall_time_s | overhead per job (s) |",
             "|---|---|---|---|---|"]
    for s in sweeps:
        lines.append(f"| {s['launcher']} | {s['rep']} | {s['wall_s']:.1f} | "
                     f"{s['mean_run_wall_s']:.1f} | {s['overhead_per_job_s']:.1f} |")
    for name in LAUNCHERS:
        vals = [s["overhead_per_job_s"] for s in sweeps if s["launcher"] == name]
        lines.append(f"| **{name}** | mean | | | **{statistics.mean(vals):.1f}** |")
    lines += ["", "| stop | rep | to RUNNING again (s) | to training again (s) | checkpoint |",
              "|---|---|---|---|---|"]
    for r in requeues:
        lines.append(f"| {r['how']} | {r['rep']} | {r['to_running_s']:.1f} | "
                     f"{r['to_resumed_s']:.1f} | {r['checkpoint']} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: List[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("results"))
    ap.add_argument("--name", default="slurm")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--requeues", type=int, default=3)
    args = ap.parse_args(argv)
    started = False
    if "SLURM_CONF" not in os.environ:
        os.environ["SLURM_CONF"] = "/tmp/regstudy-slurm/slurm.conf"
    if not cluster_up():
        sh("bash", str(SCRIPT), "start")
        started = True
    try:
        work = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
        data = {"cluster": cluster_settings(), "sweep_overrides": SWEEP, "long_overrides": LONG,
                "sweeps": [], "requeues": []}
        for rep in range(args.reps):
            for name in LAUNCHERS:
                res = one_sweep(name, work / f"{name}{rep}")
                data["sweeps"].append({"launcher": name, "rep": rep, **res})
                print(name, rep, res, flush=True)
        for rep in range(args.requeues):
            for how in ("requeue", "preempt"):
                res = one_requeue(work / f"{how}{rep}", how)
                data["requeues"].append({"how": how, "rep": rep, **res})
                print(how, rep, res, flush=True)
    finally:
        if started:
            sh("bash", str(SCRIPT), "stop")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.name}.json").write_text(json.dumps(data, indent=1) + "\n")
    write_md(args.out / f"{args.name}_tables.md", data)
    print((args.out / f"{args.name}_tables.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
