"""Start-up times of the commands that must not pay for importing torch.

Each command runs as a subprocess, as a user would run it; a separate `python -X importtime`
run of the same command says whether torch (or torchvision) was imported at all.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

HEAVY = ("torch", "torchvision")


def write_synthetic_runs(root: Path, n: int = 100, seed: int = 0) -> Path:
    """`n` finished runs in regstudy's record format (4 regularizers × n/4 seeds)."""
    rng = random.Random(seed)
    regs = ("none", "l2", "dropout", "psp")
    for i in range(n):
        reg, s = regs[i % len(regs)], i // len(regs)
        run = root / f"{i}"
        (run / ".hydra").mkdir(parents=True, exist_ok=True)
        overrides = [f"reg={reg}", f"seed={s}"]
        (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
        acc = 0.99 - 0.002 * (i % len(regs)) + rng.gauss(0, 0.001)
        record = {"status": "completed", "seed": s, "overrides": overrides,
                  "test_acc": acc, "test_error": 1 - acc, "best_val_acc": acc + 0.001,
                  "best_epoch": 10, "epochs_run": 10, "wall_time_s": 60 + rng.random(),
                  "history": [{"epoch": e, "train_acc": min(1.0, acc + 0.001 * e)}
                              for e in range(1, 11)]}
        (run / "metrics.json").write_text(json.dumps(record))
    return root


def regstudy_command() -> List[str]:
    """The console script beside this interpreter (what a user types), else `python -m`."""
    script = Path(sys.executable).with_name("regstudy")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "regstudy.cli"]


def imported_heavy(args: List[str], cwd: Path) -> Optional[bool]:
    """Whether `regstudy ARGS` imports torch or torchvision (per `-X importtime`)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "regstudy.cli", *args],
                          cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        return None
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
               if line.startswith("import time:")}
    return any(m in modules for m in HEAVY)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_command(args: List[str], reps: int, cwd: Path) -> Dict[str, Any]:
    """Wall-clock seconds, and CPU seconds (user + system: what a busy machine inflates least)."""
    times, cpu, rc = [], [], 0
    for _ in range(reps):
        c0, t0 = _children_cpu(), time.perf_counter()
        proc = subprocess.run([*regstudy_command(), *args], cwd=cwd, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        cpu.append(_children_cpu() - c0)
        rc = rc or proc.returncode
    out: Dict[str, Any] = {"seconds_median": statistics.median(times), "seconds_max": max(times),
                           "cpu_seconds_median": statistics.median(cpu), "seconds": times,
                           "imports_torch": imported_heavy(args, cwd)}
    if rc:
        out["note"] = f"exit status {rc}"
    return out


def startup_section(workdir: Path, reps: int) -> List[Dict[str, Any]]:
    from regstudy.cli import COMMANDS  # torch-free by design

    runs = write_synthetic_runs(workdir / "runs")
    commands = [("regstudy --help", ["--help"]),
                ("regstudy train --cfg job", ["train", "--cfg", "job"]),
                ("regstudy table DIR (100 runs)", ["table", str(runs)])]
    out = []
    for label, args in commands:
        if args[0] in COMMANDS or args[0].startswith("-"):
            out.append({"command": label, **time_command(args, reps, workdir)})
        else:
            out.append({"command": label, "seconds_median": None, "imports_torch": None,
                        "note": f"skipped: this checkout has no `regstudy {args[0]}`"})
    return out
