"""The plan `regstudy study --dry-run` prints: arms, spaces, budgets, runs, CPU time."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, List, Sequence

from .estimate import Timing, cpu_seconds, measure, run_counts
from .spec import LAUNCHER_KEYS, Study, grid_arms


def plan_lines(study: Study, root: Path, base: Sequence[str] = ()) -> List[str]:
    """The plan; `base` is the runs' overrides, where a command-line launcher stays."""
    t = study.tune
    lines = [f"study {study.name} -> {root}", "arms (baseline first):"]
    for arm in study.arms:
        space = ", ".join(f"{k} ~ {v}" for k, v in arm.space.items()) or "nothing to tune"
        lines.append(f"  {arm.name:<16} reg=[{','.join(arm.regs)}]  {space}")
    lines += [
        f"stage 1 tune: {study.trials} trials per tuned arm x {study.tune_epochs} epochs, "
        f"sampler {t['sampler']} (seed {t['sampler_seed']}), pruner {t['pruner']}, "
        f"objective {t['objective']} ({t.get('direction') or 'its natural direction'}) "
        f"on validation, training seed {t['seed']}",
        _final_line(study),
        f"stage 3: table.md ({study.metric}, against arm={study.baseline}), report.html, "
        "study.md, study.json"]
    if study.ablation:
        lines.append(f"ablation: remove-one of {study.ablation} at its tuned values")
    if study.grid_enabled:
        for arm in grid_arms(study):
            grid = " ".join(f"{k}={v}" for k, v in arm.grid.items())
            lines.append(f"grid {arm.name}: {grid} (seeds {study.grid_seeds}, validation)")
    launcher = study.launcher or [o for o in base if o.lstrip("+~").startswith(LAUNCHER_KEYS)]
    lines.append("launcher: " + (" ".join(launcher) or "Hydra's default (one run after another)"))
    return lines + power_lines(study, root)


def _final_line(study: Study) -> str:
    a = study.analysis
    seeds = f"seeds {', '.join(map(str, study.seeds))}"
    if a.sequential:
        seeds = (f"seeds=auto: up to {len(study.seeds)} seeds ({study.seeds[0]}..), tested "
                 f"after {', '.join(map(str, a.looks))} seeds per arm ({a.spending} alpha "
                 f"spending, Holm over arms, alpha {a.alpha}, sesoi {a.sesoi})")
    return (f"stage 2 final: {seeds} x {study.final_epochs} epochs per arm, {a.method} "
            "comparisons, tested with the best-on-validation weights")


def power_lines(study: Study, root: Path) -> List[str]:
    """What the final stage can detect: from the final runs already on disk when the study is
    resumed, else the seeds it takes at a few noise levels relative to the sesoi."""
    from .decisions import arm_values, describe, final_decisions

    a = study.analysis
    if not a.sesoi:
        return ["power: set study.sesoi to see the seeds each comparison needs"]
    values = arm_values([root / "final"], study.metric) if (root / "final").is_dir() else {}
    if values.get(study.baseline):
        lines = ["power from the final runs on disk (80%, alpha 0.05):"]
        for arm, d in final_decisions(study, values).items():
            e = describe(study, d)
            if "mde_80" in e:
                lines.append(f"  {arm}: n={e['n']}, MDE {e['mde_80']}, seeds for sesoi "
                             f"{e['seeds_for_sesoi'] or 'unknown'} ({e['decision']})")
        return lines
    from ..report.compare import PAIRED, Comparison
    from ..report.power import seeds_needed

    parts = []
    for ratio in (0.5, 1.0, 2.0):
        c = Comparison(PAIRED, 2, 0.0, ratio * a.sesoi / 2 ** 0.5, 1.0, 1.0, 0.0)
        parts.append(f"sd of per-seed differences {ratio:g} x sesoi: {seeds_needed(c, a.sesoi) or '> 10000'}")
    return ["seeds per arm for 80% power to detect sesoi (paired differences, alpha 0.05; "
            "no final runs yet to measure the noise): " + "; ".join(parts)]


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def print_plan(study: Study, base: List[str], root: Path,
               timing_run: Callable[[List[str], List[str]], Timing] = measure) -> int:
    """Print the plan, then time a few steps of the heaviest arm and extrapolate."""
    print("\n".join(plan_lines(study, root, base)))
    counts = run_counts(study)
    for stage, c in counts.items():
        print(f"runs {stage}: {c['runs']} x at most {c['epochs']} epochs")
    heaviest = max(study.arms, key=lambda a: (len(a.regs), a.regs != ["none"]))
    try:
        timing = timing_run(base, heaviest.regs)
    except (RuntimeError, OSError, ValueError, KeyError) as err:
        print(f"regstudy study: error: {err}", file=sys.stderr)
        return 2
    per_stage = cpu_seconds(counts, timing)
    print(f"timing ({heaviest.name}, 1 thread): {timing.seconds_per_step * 1000:.1f} ms/step, "
          f"{timing.steps_per_epoch} steps/epoch, {timing.overhead_s:.1f} s start-up per run")
    for stage, sec in per_stage.items():
        print(f"CPU time {stage}: at most {_hours(sec)}")
    total = sum(per_stage.values())
    print(f"CPU time total: at most {_hours(total)} (one thread per job; wall time about that "
          "divided by the jobs running at once; pruning and early stopping make it less)")
    return 0
