"""Command-line mistakes as one line each: unknown keys (also with `+`), unknown options,
wrong types. Torch-free; Hydra's own multi-line text stays available behind HYDRA_FULL_ERROR=1.

Hydra lets `+key=value` add any key to a config, which would bypass the schema: a misspelt
`+trainer.epochz=3` would train and record `epochz`. Only the schema's open dictionaries
(OPEN_DICTS: a study's arms and search spaces) take new keys; Hydra's own config
(`hydra.*`) and config groups (`+experiment=...`) are Hydra's business.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any, List, Optional, Sequence

from ..paths import config_dir
from .schema import Config

# Schema nodes that are free-form mappings: keys below them are not checked.
OPEN_DICTS = ("study.arms", "study.space", "study.arm_space", "study.grid.values")


def _node_type(tp: Any) -> Any:
    """The dataclass inside Optional[...], else the type itself."""
    if typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else tp
    return tp


def schema_key_problem(key: str, added: bool = False) -> Optional[str]:
    """Why `key` (dotted) is not a key of the schema, naming the keys allowed there; None when
    it is one or lies in an open dictionary."""
    node: Any = Config
    parts = key.split(".")
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth])
        if where in OPEN_DICTS:
            return None
        if not dataclasses.is_dataclass(node):
            return f"{key}: {where} is a value, it has no keys"
        hints = typing.get_type_hints(node)
        if part not in hints:
            allowed = ", ".join(sorted(hints))
            extra = f" (+ adds keys only under {', '.join(OPEN_DICTS)})" if added else ""
            return f"{key} is not a key of {where or 'the config'}; allowed keys: {allowed}{extra}"
        node = _node_type(hints[part])
    return None


def config_groups(extra_dirs: Sequence[Path] = ()) -> List[str]:
    """Config group names (`model`, `reg`, `hydra/launcher`...), from the config folder and
    the folders a `hydra.searchpath` adds (a study's `arm` group lives in one)."""
    groups = []
    for root in [Path(config_dir()), *map(Path, extra_dirs)]:
        groups += [str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir()]
    return groups


def searchpath_dirs(overrides: Sequence[Any]) -> List[Path]:
    """The `file://` folders of a `hydra.searchpath=[...]` override (parsed overrides)."""
    dirs: List[Path] = []
    for override in overrides:
        if override.key_or_group == "hydra.searchpath":
            value = override.value()
            for entry in value if isinstance(value, list) else [value]:
                if str(entry).startswith("file://"):
                    dirs.append(Path(str(entry)[len("file://"):]))
    return dirs


def added_key_problem(overrides: Sequence[str]) -> Optional[str]:
    """The first `+key=...`/`++key=...` override that adds a key the schema does not have."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(
            [o for o in overrides if "=" in o and not o.startswith("-")])
    except HydraException:
        return None   # Hydra reports the syntax error itself (as one line, composition_line)
    groups = set(config_groups(searchpath_dirs(parsed)))
    for override in parsed:
        if not override.is_add() and not override.is_force_add():
            continue
        key = override.key_or_group
        if key.startswith(("hydra.", "hydra/")) or key == "hydra" or key in groups:
            continue
        if override.package is not None:
            continue
        problem = schema_key_problem(key, added=True)
        if problem:
            return problem
    return None


def _first_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def composition_line(err: BaseException) -> Optional[str]:
    """One line for an error Hydra or OmegaConf raised while composing the config (None for
    any other error): the key or override, what is wrong, what is allowed."""
    from hydra.errors import HydraException, MissingConfigException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    if isinstance(err, OverrideParseException):
        return f"{err.override}: {_first_line(str(err))}" if err.override else _first_line(str(err))
    if isinstance(err, MissingConfigException):
        found = re.search(r"Could not find '([^']+)'", str(err))
        name = found.group(1) if found else str(err.missing_cfg_file)
        group, _, option = name.rpartition("/")
        if group and err.options:
            return (f"{group}={option} is not an option of {group}; choose one of: "
                    f"{', '.join(sorted(err.options))}")
        return _first_line(str(err))
    if not isinstance(err, (HydraException, OmegaConfBaseException)):
        return None
    cause = err.__cause__ if isinstance(err.__cause__, OmegaConfBaseException) else None
    full_key = getattr(cause or err, "full_key", None)
    if isinstance(cause or err, (ConfigKeyError, ConfigAttributeError)) and full_key:
        return schema_key_problem(str(full_key)) or _first_line(str(cause or err))
    override = re.search(r"override (\S+)", _first_line(str(err)))
    if cause is not None and override:
        return f"{override.group(1)}: {_first_line(str(cause))}"
    if cause is not None and full_key:
        return f"{full_key}: {_first_line(str(cause))}"
    return _first_line(str(err))


def sweep_problem(argv: Sequence[str]) -> Optional[str]:
    """The first composition error of any job of a sweep, as one line, before any job runs.

    Hydra composes each job's config only when it launches it, so a bad value late in a
    list (`model=lenet5,nosuchmodel`) would fail the sweep after the jobs before it trained.
    Each value of each listed key is composed once (with the other lists at their first
    value); ranges of a search (`interval(...)`) are the search's to check."""
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    from .compose import hydra_configs

    overrides = [a for a in argv if not a.startswith("-") and "=" in a
                 and not a.lstrip("+~").startswith("hydra")]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as err:
        return composition_line(err)
    lists = {i: list(o.sweep_string_iterator()) for i, o in enumerate(parsed)
             if o.is_sweep_override() and not o.is_interval_sweep()}
    if not lists:
        return None
    with hydra_configs("check"):
        for i, values in lists.items():
            for value in values:
                job = [f"{o.get_key_element()}={value if j == i else lists[j][0]}"
                       if j in lists else o.input_line for j, o in enumerate(parsed)
                       if j in lists or not o.is_sweep_override()]
                try:
                    compose(config_name="train", overrides=job)
                except Exception as err:
                    line = composition_line(err)
                    if line:
                        return line
                    raise
    return None
