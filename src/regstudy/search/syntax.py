"""Command-line checks Hydra would otherwise fail on with several lines and exit 1, before any
config is composed: an override that does not parse (a search space such as
`choice()` or `interval(1,`), and the syntax of Hydra's own Optuna sweeper plugin, answered
with regstudy's key. Hydra- and optuna-free but for Hydra's override parser."""

from __future__ import annotations

from typing import Iterable, Optional

from ..record.run_record import override_key

# Keys of Hydra's Optuna plugin (hydra-optuna-sweeper) -> regstudy's equivalent.
PLUGIN_KEYS = {
    "hydra/sweeper/sampler": "hydra.sweeper.sampler=NAME (tpe, random, grid, cmaes, qmc, gp, "
                             "nsgaii)",
    "hydra.sweeper.sampler.seed": "hydra.sweeper.seed=N",
    "hydra.sweeper.sampler._target_": "hydra.sweeper.sampler=NAME",
    "hydra.sweeper.sampler.": "+hydra.sweeper.sampler_options.KEY=V",
    "hydra.sweeper.search_space.": "hydra.sweeper.params.KEY=EXPR (or KEY=EXPR)",
    "hydra.sweeper.custom_search_space": "hydra.sweeper.params.KEY=EXPR, with choice() of "
                                         "lists for combinations",
}


def plugin_syntax_error(args: Iterable[str]) -> Optional[str]:
    """One line naming regstudy's key for an override in Hydra's Optuna plugin's syntax."""
    for arg in args:
        key = override_key(arg)
        for theirs, ours in PLUGIN_KEYS.items():
            if key == theirs or (theirs.endswith(".") and key.startswith(theirs)):
                return (f"{arg}: that is the syntax of Hydra's own Optuna plugin; regstudy's "
                        f"sweeper takes {ours}")
    return None


def unparsable_override(args: Iterable[str]) -> Optional[str]:
    """One line for the first override that Hydra's parser refuses, or None."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = None
    for arg in args:
        if arg.startswith("-") or "=" not in arg:
            continue                       # Hydra's own flags (--cfg job, -m, --help)
        parser = parser or OverridesParser.create()
        try:
            parser.parse_override(arg)
        except HydraException as err:
            text = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
            return f"cannot parse {arg!r}: {text[0] if text else type(err).__name__}"
    return None


def command_line_error(args: Iterable[str]) -> Optional[str]:
    args = list(args)
    return plugin_syntax_error(args) or unparsable_override(args)
