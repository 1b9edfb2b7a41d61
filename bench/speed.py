"""Training speed of regstudy beside a minimal hand-written loop and the textbook pipeline.

In one process, on the same model, data and seed, with repetitions interleaved so that
machine drift hits every variant alike, it times training steps of:
  1. regstudy's own run (`train_run`, default observers and logging), and variants:
     diagnostics off, gradient flow every step, reg=psp, channels_last, torch.compile;
  2. a minimal loop: float tensors in memory, shuffled index, forward, loss, backward, SGD;
  3. the textbook pipeline: torchvision dataset + ToTensor/Normalize + DataLoader(shuffle),
     with num_workers 0 and 2.
Then the allocator comparison (separate processes: glibc defaults vs regstudy's tuned
thresholds) and the start-up time of the torch-free commands. Writes bench.md and bench.json.

    python -m bench.speed                      # LeNet5 / MNIST, 5 x 1 epoch
    python -m bench.speed --epochs-fraction 0.2 --reps 3
    python -m bench.speed --model vgg38 --synthetic --steps 20
    python -m bench.speed --quick --out /tmp/bench   # smoke test: every variant, a few steps

Variants whose config does not exist in this checkout are skipped with the reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

REPO = Path(__file__).resolve().parents[1]

# key, label, overrides added to the workload's (regstudy variants).
REGSTUDY_VARIANTS = [
    ("regstudy", "regstudy (defaults)", []),
    ("regstudy_nodiag", "regstudy, diagnostics off", ["diag.enabled=false"]),
    ("regstudy_bare", "regstudy, no observers (diagnostics and <z^2> off)",
     ["diag.enabled=false", "trainer.zsq_every_n_steps=0"]),
    ("gradflow_every_step", "regstudy, gradient flow every step", ["diag.every_n_steps=1"]),
    ("psp", "regstudy, reg=psp", ["reg=psp"]),
    ("regstudy_cl", "regstudy, channels_last", ["trainer.channels_last=true"]),
    ("compile", "regstudy, torch.compile", ["trainer.compile=true"]),
]
# What the allocator probes run: the loops of the main comparison, in each allocator setting.
PROBED = ("minimal", "regstudy", "textbook_w0", "textbook_w2")
QUICK = {"steps": 3, "reps": 1, "warmup_steps": 0, "allocator_rounds": 1,
         "allocator_steps": 3, "startup_reps": 1, "synthetic_size": 1000}


@dataclass
class Variant:
    label: str
    kind: str                                   # regstudy | minimal | textbook
    run: Optional[Callable[[int], Any]]         # steps -> bench.loops.Rep
    overrides: List[str] = dataclasses.field(default_factory=list)
    skipped: Optional[str] = None


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="extra Hydra overrides for every variant's config (e.g. optim.lr=0.1)")
    p.add_argument("--model", default=None, help="model config (default: regstudy's, lenet5)")
    p.add_argument("--synthetic", action="store_true",
                   help="random CIFAR-shaped images in CIFAR-10's file format instead of MNIST")
    p.add_argument("--synthetic-size", type=int, default=10000,
                   help="synthetic training-file images (a tenth is held out for validation)")
    p.add_argument("--batch-size", type=int, default=None, help="default: regstudy's (100)")
    p.add_argument("--steps", type=int, default=None,
                   help="optimizer steps per repetition (default: --epochs-fraction of an epoch)")
    p.add_argument("--epochs-fraction", type=float, default=1.0)
    p.add_argument("--reps", type=int, default=5, help="timed repetitions per variant")
    p.add_argument("--warmup-steps", type=int, default=20,
                   help="steps of the untimed warm-up repetition, where torch.compile "
                        "compiles (0 = none)")
    p.add_argument("--only", default="", help="comma-separated variant keys to run")
    p.add_argument("--threads", type=int, default=0,
                   help="torch intra-op threads (default: torch's choice); 1 steadies timings "
                        "on a machine shared with other work")
    p.add_argument("--allocator-rounds", type=int, default=2,
                   help="processes per allocator setting (0 = skip the allocator section)")
    p.add_argument("--allocator-steps", type=int, default=100)
    p.add_argument("--startup-reps", type=int, default=5,
                   help="runs of each start-up command (0 = skip)")
    p.add_argument("--out", type=Path, default=REPO / "results",
                   help="where bench.md and bench.json go (default: results/)")
    p.add_argument("--note", default="", help="a sentence for the report (e.g. machine load)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: every variant, a few steps, tiny data (numbers meaningless)")
    p.add_argument("--allocator-probe", choices=("default", "tuned"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            if p.get_default(key) == getattr(args, key):
                setattr(args, key, value)
    return args


def apply_allocator(mode: str) -> Dict[str, Any]:
    """Give this process regstudy's allocator setting ("tuned"), or glibc's defaults
    ("default": its runs are made with train_run(tune_allocator=False)); the setting is
    process-wide and one-way."""
    from regstudy.training.runtime import tune_malloc

    env = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_")}
    if mode == "default":
        return {"mode": mode, "applied": False, "env": env,
                "description": "glibc's default malloc thresholds (regstudy's runs made with "
                               "tune_allocator=False)" + (f"; environment {env}" if env else "")}
    applied = tune_malloc()
    mib = inspect.signature(tune_malloc).parameters["threshold_bytes"].default / 2**20
    desc = (f"regstudy's tune_malloc(): mallopt M_MMAP_THRESHOLD={mib:g} MiB, "
            f"M_TRIM_THRESHOLD={2 * mib:g} MiB" if applied else
            f"tune_malloc() did nothing (environment {env or 'without glibc'})")
    return {"mode": mode, "applied": applied, "env": env, "description": desc}


def workload_overrides(args: argparse.Namespace, tmp: Path) -> List[str]:
    from bench.workload import data_overrides, write_synthetic_cifar10

    root = None
    if args.synthetic:
        root = tmp / "synthetic"
        write_synthetic_cifar10(root, args.synthetic_size, max(args.synthetic_size // 5, 100))
    out = data_overrides(root, args.synthetic_size)
    if args.model:
        out.append(f"model={args.model}")
    if args.batch_size:
        out.append(f"trainer.batch_size={args.batch_size}")
    if args.quick:  # tiny data: just the images the steps need; small evaluation sets
        bs = args.batch_size or 100
        out += [f"dataset.subset={bs * args.steps}", "dataset.test_subset=100"]
    return out + list(args.overrides)


def define_variants(w, keys: Optional[set] = None, tune_allocator: bool = True
                    ) -> Dict[str, Variant]:
    """The variants (all, or those in `keys`); a regstudy variant whose config does not
    compose on this checkout is kept with the reason it is skipped."""
    from bench.loops import MinimalLoop, RegstudyRun, TextbookPipeline, skip_reason

    makers: Dict[str, Callable[[], Variant]] = {
        "minimal": lambda: Variant("minimal loop", "minimal", MinimalLoop(w)),
        "minimal_cl": lambda: Variant("minimal loop, channels_last", "minimal",
                                      MinimalLoop(w, True)),
        "textbook_w0": lambda: Variant("textbook, num_workers=0", "textbook",
                                       TextbookPipeline(w, 0)),
        "textbook_w2": lambda: Variant("textbook, num_workers=2", "textbook",
                                       TextbookPipeline(w, 2)),
    }

    def regstudy(label: str, overrides: List[str]) -> Callable[[], Variant]:
        def make() -> Variant:
            why = skip_reason([*w.overrides, *overrides])
            run = None if why else RegstudyRun(w, overrides, tune_allocator)
            return Variant(label, "regstudy", run, overrides, why)
        return make

    for key, label, overrides in REGSTUDY_VARIANTS:
        makers[key] = regstudy(label, overrides)
    return {k: make() for k, make in makers.items() if not keys or k in keys}


def compile_without_codegen() -> None:
    """--quick: torch.compile traces with Dynamo but runs the graphs eagerly (backend "eager").
    Inductor's cold code generation takes tens of seconds, beyond a smoke test's budget; the
    real figure comes from a full run."""
    import torch

    real = torch.nn.Module.compile

    def compile_eager(self, *args, **kwargs):
        kwargs.setdefault("backend", "eager")
        return real(self, *args, **kwargs)

    torch.nn.Module.compile = compile_eager


def measure(variants: Dict[str, Variant], steps: int, reps: int, warmup_steps: int,
            say: Callable[[str], None]) -> Dict[str, Dict[str, Any]]:
    """One warm-up repetition each, then `reps` rounds; each round runs every variant once,
    starting one further along the list each time."""
    out = {k: {"label": v.label, "kind": v.kind, "overrides": v.overrides, "skipped": v.skipped,
               "warmup": None, "reps": []} for k, v in variants.items()}
    active = [k for k, v in variants.items() if v.run is not None]

    def attempt(k: str, n: int) -> Optional[Dict[str, Any]]:
        try:
            return dataclasses.asdict(variants[k].run(n))
        except Exception as err:  # a broken variant is reported; the others still run
            out[k].update(skipped=f"failed: {type(err).__name__}: {err}", reps=[])
            active.remove(k)
            say(f"{k} {out[k]['skipped']}")
            return None

    for k in list(active) if warmup_steps > 0 else []:
        out[k]["warmup"] = attempt(k, warmup_steps)
        if out[k]["warmup"]:
            say(f"warm-up {k}: {out[k]['warmup']['seconds']:.2f} s")
    for r in range(reps):
        for k in active[r % len(active):] + active[:r % len(active)] if active else []:
            rep = attempt(k, steps)
            if rep:
                out[k]["reps"].append(rep)
                say(f"round {r + 1}/{reps} {k}: {rep['images'] / rep['seconds']:,.0f} images/s")
    return out


def probe_command(args: argparse.Namespace, mode: str) -> List[str]:
    """This script as an allocator probe: same workload, only the PROBED loops."""
    cmd = [sys.executable, "-m", "bench.speed", "--allocator-probe", mode,
           "--steps", str(args.allocator_steps), "--reps", "1" if args.quick else "2",
           "--warmup-steps", str(min(args.warmup_steps, args.allocator_steps))]
    if args.model:
        cmd += ["--model", args.model]
    if args.synthetic:
        cmd += ["--synthetic", "--synthetic-size", str(args.synthetic_size)]
    if args.batch_size:
        cmd += ["--batch-size", str(args.batch_size)]
    if args.quick:
        cmd.append("--quick")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    return cmd + list(args.overrides)


def allocator_section(args: argparse.Namespace, main_results: Dict[str, Dict[str, Any]],
                      say: Callable[[str], None]) -> Dict[str, Any]:
    """Probe processes alternate between glibc's defaults and regstudy's tuned thresholds.
    --quick spawns only the default one and takes the tuned figures from this process."""
    from bench.report import summarize

    pooled: Dict[str, Dict[str, List[dict]]] = {"default": {}, "tuned": {}}
    modes = ("default",) if args.quick else ("default", "tuned")
    if args.quick:
        pooled["tuned"] = {k: main_results[k]["reps"] for k in PROBED
                           if main_results.get(k, {}).get("reps")}
    for i in range(args.allocator_rounds):
        for mode in modes:
            proc = subprocess.run(probe_command(args, mode), capture_output=True, text=True,
                                  stdin=subprocess.DEVNULL, cwd=REPO)
            if proc.returncode != 0:
                raise RuntimeError(f"allocator probe ({mode}) failed:\n{proc.stderr[-2000:]}")
            probe = json.loads(proc.stdout.strip().splitlines()[-1])
            for key, v in probe["variants"].items():
                pooled[mode].setdefault(key, []).extend(v["reps"])
            say(f"allocator probe {i + 1}/{args.allocator_rounds} {mode} done")
    return {"steps": args.allocator_steps, "processes_per_mode": args.allocator_rounds,
            "summary": {mode: {k: summarize(reps) for k, reps in per.items()}
                        for mode, per in pooled.items() if per},
            "reps": pooled}


def machine_info(device) -> Dict[str, Any]:
    import torch
    import torchvision

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    if device.type == "cuda":
        cpu += f"; GPU {torch.cuda.get_device_name(device)}"
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch_interop_threads": torch.get_num_interop_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "python": platform.python_version(),
            "device": str(device), "host": platform.node()}


def quiet_regstudy_logging(path: Path) -> logging.Handler:
    """regstudy's per-epoch log lines go to a file, as under Hydra (train.log), not the console."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    logger = logging.getLogger("regstudy")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    logger.propagate = False
    return handler


def run_probe(args: argparse.Namespace, w, alloc: Dict[str, Any]) -> None:
    variants = define_variants(w, set(PROBED), tune_allocator=alloc["mode"] == "tuned")
    res = measure(variants, args.steps, args.reps, args.warmup_steps, lambda s: None)
    print(json.dumps({"allocator": alloc, "variants": res}))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    alloc = apply_allocator(args.allocator_probe or "tuned")
    loadavg_before = os.getloadavg()[0]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from bench.report import check_targets, compile_cost, markdown, ratios, summarize
    from bench.startup import startup_section
    from bench.workload import build_workload

    def say(msg: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="regstudy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        handler = quiet_regstudy_logging(tmp / "regstudy.log")
        try:
            w = build_workload(workload_overrides(args, tmp), tmp)
            if args.steps is None:
                args.steps = max(1, round(args.epochs_fraction * w.steps_per_epoch))
            if args.allocator_probe:
                run_probe(args, w, alloc)
                return 0
            keys = {k.strip() for k in args.only.split(",") if k.strip()} or None
            variants = define_variants(w, keys)
            if args.quick and "compile" in variants:
                compile_without_codegen()
                variants["compile"].label += " (--quick: Dynamo only, backend=eager)"
            say(f"{len(variants)} variants, {args.reps} x {args.steps} steps each "
                f"({w.steps_per_epoch} steps = 1 epoch)")
            results = measure(variants, args.steps, args.reps, args.warmup_steps, say)
            machine = machine_info(w.device)
            allocator = (allocator_section(args, results, say) if args.allocator_rounds > 0
                         else {})
            startup = startup_section(tmp, args.startup_reps) if args.startup_reps > 0 else []
        finally:
            logging.getLogger("regstudy").removeHandler(handler)
            handler.close()

    for key, v in results.items():
        if v["reps"]:
            v["summary"], v["ratios"] = summarize(v["reps"]), ratios(results, key)
    machine.update(loadavg_before=loadavg_before, loadavg_after=os.getloadavg()[0])
    machine["loaded"] = loadavg_before > 0.5
    res = {
        "command": shlex.join(["python", "-m", "bench.speed", *(argv if argv is not None
                                                                 else sys.argv[1:])]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine,
        "settings": {"model": w.cfg.model.name + (f" ({w.cfg.model.variant})"
                                                  if w.cfg.model.name == "lenet5" else ""),
                     "data": w.cfg.dataset.name + (" (synthetic, random pixels)"
                                                   if args.synthetic else ""),
                     "overrides": w.overrides, "batch_size": w.batch_size, "seed": w.cfg.seed,
                     "train_size": w.train_size, "steps_per_epoch": w.steps_per_epoch,
                     "steps": args.steps, "images": w.images_in(args.steps), "reps": args.reps,
                     "warmup_steps": args.warmup_steps, "allocator": alloc, "quick": args.quick},
        "variants": results,
        "compile": compile_cost(results["compile"]) if "compile" in results else None,
        "allocator": allocator,
        "startup": startup,
        "note": args.note,
    }
    res["targets"] = check_targets(results, startup, allocator)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps(res, indent=1))
    (args.out / "bench.md").write_text(markdown(res))
    say(f"wrote {args.out / 'bench.md'} and {args.out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
