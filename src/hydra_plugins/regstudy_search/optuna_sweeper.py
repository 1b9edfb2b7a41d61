"""`hydra/sweeper=optuna`: regstudy's Optuna sweeper, as a Hydra plugin.

Hydra imports this module whenever it scans plugins (every `regstudy train`, `--cfg job`
included), so it imports neither optuna nor torch: the search itself is in regstudy.search.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf, open_dict

from regstudy.search.config import register

register()


class OptunaSweeper(Sweeper):
    """Runs an Optuna study: each trial is an ordinary run launched by the configured launcher."""

    def __init__(self, **conf: Any) -> None:
        self.conf = OmegaConf.create(conf)
        self.config: Optional[DictConfig] = None
        self.launcher = None
        self.hydra_context = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context, self.config = hydra_context, config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def check_trial(self, overrides: List[str]) -> Optional[str]:
        """Why a trial with these overrides could not run (composition or range check), or None."""
        from regstudy.config.validate import ConfigError, check
        from regstudy.search.objective import OBJECTIVES

        try:
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
            with open_dict(cfg):
                del cfg["hydra"]
            check(cfg)
            names = self.conf.objective
            for name in [names] if isinstance(names, str) else list(names):
                objective = OBJECTIVES.get(str(name))
                if objective and objective.needs_validation and cfg.dataset.val_size <= 0:
                    return (f"hydra.sweeper.objective={name} needs a validation set; "
                            "set dataset.val_size > 0")
        except ConfigError as err:
            return str(err).splitlines()[0]
        except Exception as err:  # Hydra's composition errors: unknown key, wrong type, ...
            text = str(err).strip().splitlines()
            return f"{' '.join(overrides)}: {text[0] if text else type(err).__name__}"
        return None

    def sweep(self, arguments: List[str]) -> Any:
        from regstudy.search.errors import SearchError
        from regstudy.search.runner import prepare, run_search

        sweep_dir = Path(self.config.hydra.sweep.dir)
        try:
            plan = prepare(self.conf, arguments, sweep_dir, self.config.hydra.launcher,
                           self.check_trial)
        except SearchError as err:
            print(f"regstudy train: error: {err}", file=sys.stderr)
            sys.exit(2)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        summary = run_search(plan, sweep_dir,
                             lambda jobs, idx: self.launcher.launch(jobs, initial_job_idx=idx),
                             self.check_trial)
        if summary.get("stopped"):
            print(f"regstudy train: error: {summary['stopped']}", file=sys.stderr)
            sys.exit(1)
        return summary
