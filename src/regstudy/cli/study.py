"""`regstudy study experiment=NAME [overrides] [--dir DIR] [--dry-run]`: a fair comparison.

Stage 1 tunes each arm's knobs on validation (search sweeper), stage 2 re-trains each arm's
best configuration with fresh seeds and tests the best-on-validation weights, stage 3 writes
the table against the baseline arm, the HTML report and study.md / study.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

from ..provenance import source_commit
from ..record.run_record import override_key
from ..study.spec import LAUNCHER_KEYS, Study, StudyError

QUOTED_STUDY_KEYS = ("study.space.", "study.arm_space.", "study.grid.values.")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="regstudy study",
        description="Run the study an experiment preset declares (its `study:` node): tune each "
                    "arm on validation, re-train each arm's best config with fresh seeds, then "
                    "write table.md, report.html and study.md into DIR. The same command "
                    "resumes a killed study.")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="experiment=NAME (required), other training overrides (dataset=...), "
                        "and study.* settings, e.g. study.tune.trials=10 study.final.seeds=5 "
                        "study.only=[none,l2] study.grid.enabled=true; a launcher given here "
                        "(hydra/launcher=submitit_slurm hydra.launcher.partition=...) replaces "
                        "study.launcher")
    p.add_argument("--dir", type=Path, help="output directory (default multirun/study/<name>)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan and a CPU-time estimate from a short timing run; "
                        "train nothing, write nothing")
    return p


def split_overrides(overrides: List[str]) -> Tuple[List[str], List[str]]:
    """(study.* settings, overrides every training run gets); the regularizers and the seeds
    are the study's to set, and trainer.epochs only supplies the default of its epochs."""
    study, base = [], []
    for ov in overrides:
        key = override_key(ov)
        if key == "reg" or key.startswith("reg."):
            raise StudyError(f"{ov}: the arms set the regularizers; declare arms in "
                             "study.arms or search spaces in study.space instead")
        if key == "seed":
            raise StudyError(f"{ov}: the study sets the seeds; use study.tune.seed, "
                             "study.final.seeds and study.final.seed_offset")
        (study if key.startswith("study.") or key == "study" else base).append(ov)
    return study, base


def run_overrides(base: List[str]) -> List[str]:
    """What every stage's runs get: the base without trainer.epochs (each stage sets it)."""
    return [ov for ov in base if override_key(ov) != "trainer.epochs"]


def quote_spaces(overrides: List[str]) -> List[str]:
    """study.space.reg.l2.strength=interval(...) is a string for the study, not a sweep of it."""
    out = []
    for ov in overrides:
        key, sep, value = ov.partition("=")
        quoted = re.match(r"^['\"\[]", value)
        if key.lstrip("+~").startswith(QUOTED_STUDY_KEYS) and value and not quoted:
            value = "'" + value.replace("'", "\\'") + "'"
        out.append(f"{key}={value}" if sep else ov)
    return out


def load(overrides: List[str]) -> Tuple[Study, List[str], Any]:
    """The checked study, the overrides its runs get, and the composed config."""
    from ..config.errors import added_key_problem, composition_line
    from ..paths import config_dir
    from ..study.compose import Composer
    from ..study.spec import read_study

    study_ov, base = split_overrides(overrides)
    composable = [o for o in base if not o.lstrip("+~").startswith("hydra")]
    problem = added_key_problem(composable)
    if problem:
        raise StudyError(problem)
    try:
        with Composer(composable) as composer:
            cfg = composer.compose(quote_spaces(study_ov))
            study = read_study(cfg, composer.has_knob, config_dir())
    except StudyError:
        raise
    except Exception as err:   # Hydra's config errors: a misspelt key, an unknown option
        line = composition_line(err)
        if line:
            raise StudyError(line) from None
        lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
        cause = str(err.__cause__).splitlines()[0] if err.__cause__ else ""
        raise StudyError(" ".join(lines + ([f"({cause})"] if cause else []))) from None
    if any(o.lstrip("+~").startswith(LAUNCHER_KEYS) for o in base):
        study = dataclasses.replace(study, launcher=[])   # the command line's launcher wins
    return study, run_overrides(base), cfg


def default_dir(cfg: Any) -> Path:
    name, dataset = str(cfg.name), str(cfg.dataset.name)
    return Path("multirun", "study", name if dataset in name else f"{name}-{dataset}")


def main(argv: List[str]) -> int:
    args = parser().parse_intermixed_args(argv)
    try:
        study, base, cfg = load(args.overrides)
    except StudyError as err:
        print(f"regstudy study: error: {err}", file=sys.stderr)
        return 2
    from ..study.plugins import plugin_error

    problem = plugin_error(study, base)
    if problem:
        print(f"regstudy study: error: {problem}", file=sys.stderr)
        return 2
    root = args.dir or default_dir(cfg)
    if args.dry_run:
        from ..study.plan_text import print_plan

        return print_plan(study, base, root)
    from ..study.stages import StageError

    try:
        run_study(study, base, root, "regstudy study " + " ".join(argv))
    except (StageError, StudyError) as err:
        print(f"regstudy study: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("regstudy study: interrupted; the same command continues where it stopped",
              file=sys.stderr)
        return 130
    return 0


def run_study(study: Study, base: List[str], root: Path, command: str) -> Dict[str, Any]:
    """The three stages into `root`; returns what study.json holds."""
    from ..study.compose import Composer
    from ..study.stages import Layout, run_final, run_grid, run_sequential, run_tuning, write_arms
    from ..study.summary import (
        arm_entry,
        grid_summary,
        verdicts,
        write_report,
        write_summary,
        write_tables,
    )

    layout, started = Layout(root), time.time()
    root.mkdir(parents=True, exist_ok=True)
    searches = run_tuning(study, base, layout)
    composable = [o for o in base if not o.lstrip("+~").startswith("hydra")]
    with Composer(composable) as composer:
        chosen, ablated = write_arms(study, composer, searches, layout)
    if study.analysis.sequential:
        run_sequential(study, base, layout)
    else:
        run_final(study, base, layout, [a.name for a in study.arms], layout.final,
                  study.baseline, "final")
    ablation = None
    if ablated:
        source = next(iter(ablated.values()))[0].source
        run_final(study, base, layout, list(ablated), layout.ablation, source, "ablation")
        ablation = {"of": source, "arms": list(ablated)}
    grid = {a.name: layout.grid(a.name) for a in run_grid(study, base, layout)} \
        if study.grid_enabled else {}
    rows = write_tables(study, root, ablation)
    arms = {a.name: arm_entry(a, searches.get(a.name), chosen[a.name], rows.get(a.name))
            for a in study.arms}
    for name, (arm, overrides) in ablated.items():   # remove-one arms at the combination's values
        arms[name] = arm_entry(arm, None, overrides, rows.get(name))
    doc = {"name": study.name, "command": command, "commit": source_commit(),
           "overrides": base, "baseline": study.baseline, "metric": study.metric,
           "budget": {"trials": study.trials, "tune_epochs": study.tune_epochs,
                      "final_epochs": study.final_epochs, "seeds": study.seeds,
                      "objective": study.tune["objective"], "sampler": study.tune["sampler"],
                      "pruner": study.tune["pruner"]},
           "arms": arms, "ablation": ablation, "grid": grid_summary(grid),
           **verdicts(study, layout.final),
           "wall_time_s": round(time.time() - started, 1)}
    write_summary(doc, root)
    write_report(study, root, layout.log("report"))
    return doc
