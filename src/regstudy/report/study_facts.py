"""What a study was: the commands that reproduce it and the environment its runs recorded
(versions, device, threads, git commit), for section 1 of the report. Torch-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

MULTIRUN_FILE = "multirun.yaml"   # Hydra writes it into a sweep dir, with the overrides given

# label -> how to read it from a record (None when the record does not say)
ENVIRONMENT = {
    "git commit": lambda r: r.get("git_commit"),
    "regstudy": lambda r: r.get("regstudy_version"),
    "torch": lambda r: r.get("torch_version"),
    "python": lambda r: r.get("python_version"),
    "device": lambda r: r.get("device"),
    "threads": lambda r: ((r.get("config") or {}).get("trainer") or {}).get("threads"),
    "host": lambda r: r.get("host"),
}


def sweep_command(sweep_dir: Path) -> Optional[str]:
    """`regstudy train -m ...` as the sweep was launched (Hydra's multirun.yaml keeps it)."""
    import yaml  # PyYAML, a Hydra dependency

    try:
        hydra = (yaml.safe_load((Path(sweep_dir) / MULTIRUN_FILE).read_text()) or {})["hydra"]
        overrides = hydra["overrides"]
        task = [str(o) for o in overrides.get("task") or []]
        extra = [str(o) for o in overrides.get("hydra") or [] if not str(o).startswith("hydra.mode=")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return None
    return "regstudy train -m " + " ".join(task + extra)


def commands(dirs: Iterable[Path], records: Sequence[Mapping[str, Any]],
             limit: int = 30) -> List[str]:
    """One command per sweep (from its multirun.yaml), else one per distinct run."""
    sweeps = sorted({p.parent for d in map(Path, dirs) if d.is_dir()
                     for p in d.rglob(MULTIRUN_FILE)})
    found = [c for c in map(sweep_command, sweeps) if c]
    if found:
        return found[:limit]
    singles = dict.fromkeys("regstudy train " + " ".join(map(str, r.get("overrides") or []))
                            for r in records)
    return list(singles)[:limit]


def environment(records: Sequence[Mapping[str, Any]]) -> List[Dict[str, str]]:
    """Each environment field with its distinct values over the runs, or 'not recorded'."""
    out = []
    for label, read in ENVIRONMENT.items():
        values = []
        for r in records:
            try:
                v = read(r)
            except (AttributeError, TypeError):
                v = None
            if v is not None and str(v) not in values:
                values.append(str(v))
        out.append({"name": label, "value": ", ".join(values) if values
                    else "not recorded in the run records"})
    return out
