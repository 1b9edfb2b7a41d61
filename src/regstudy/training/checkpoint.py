"""Checkpoints: everything needed to continue a run exactly, written atomically, loaded safely.

Saved at the end of every epoch and on SIGTERM/SIGUSR2 (mid-epoch, with the position in
the epoch). Loading uses `torch.load(weights_only=True)`, which cannot run code from the
file; RNG states are stored as tensors and plain Python values for that reason.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Dict

import numpy as np
import torch

from .faults import maybe_fail

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1
# Keys that do not change what a run computes; a resumed run may differ in them.
VOLATILE_KEYS = {("trainer", "resume"), ("trainer", "progress"), ("dataset", "root"),
                 ("dataset", "download"), ("trainer", "log_every_n_steps")}


class CheckpointError(RuntimeError):
    """A checkpoint exists but cannot be used; the message says what to do."""


# Whole groups that never change what a run trains: the `study:` declaration is read by
# `regstudy study` only, so a study's new claims or budgets must not orphan its finished runs.
VOLATILE_GROUPS = {"study"}


def _comparable(config: Dict[str, Any]) -> Dict[str, Any]:
    return {group: ({k: v for k, v in node.items() if (group, k) not in VOLATILE_KEYS}
                    if isinstance(node, dict) else node)
            for group, node in config.items() if group not in VOLATILE_GROUPS}


def config_fingerprint(config: Dict[str, Any]) -> str:
    """Hash of the resolved config minus the keys in VOLATILE_KEYS."""
    blob = json.dumps(_comparable(config), sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _flatten(node: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(node, dict):
        return {prefix.rstrip("."): node}
    out: Dict[str, Any] = {}
    for k, v in node.items():
        out.update(_flatten(v, f"{prefix}{k}."))
    return out


def config_differences(saved: Dict[str, Any], current: Dict[str, Any], limit: int = 6) -> str:
    """'key: saved -> current' for the first differing keys, to say why a resume is refused."""
    a, b = _flatten(_comparable(saved)), _flatten(_comparable(current))
    diffs = [f"{k}: {a.get(k, '<absent>')} -> {b.get(k, '<absent>')}"
             for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]
    more = f" (and {len(diffs) - limit} more)" if len(diffs) > limit else ""
    return "; ".join(diffs[:limit]) + more


def capture_rng(gen: torch.Generator, aug_gen: torch.Generator) -> Dict[str, Any]:
    version, state, gauss = random.getstate()
    np_state = np.random.get_state()
    return {
        "python": [version, list(state), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data_order": gen.get_state(),
        "augment": aug_gen.get_state(),
    }


def restore_rng(rng: Dict[str, Any], gen: torch.Generator, aug_gen: torch.Generator) -> None:
    version, state, gauss = rng["python"]
    random.setstate((version, tuple(state), gauss))
    kind, keys, *rest = rng["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])
    gen.set_state(rng["data_order"])
    aug_gen.set_state(rng["augment"])


def scheduler_state(scheduler) -> Dict[str, Any] | None:
    """Scheduler state with Counters (MultiStepLR milestones) as plain dicts, for weights_only."""
    if scheduler is None:
        return None
    state = scheduler.state_dict()
    counters = [k for k, v in state.items() if isinstance(v, Counter)]
    return {"state": {k: (dict(v) if k in counters else v) for k, v in state.items()},
            "counters": counters}


def load_scheduler_state(scheduler, saved: Dict[str, Any] | None) -> None:
    if scheduler is None or saved is None:
        return
    state = {k: (Counter(v) if k in saved["counters"] else v) for k, v in saved["state"].items()}
    scheduler.load_state_dict(state)


def save_checkpoint(path: Path, payload: Dict[str, Any]) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the old one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        torch.save({"format_version": FORMAT_VERSION, **payload}, f)
        f.flush()
        os.fsync(f.fileno())
    maybe_fail("checkpoint_write")
    os.replace(tmp, path)


def unreadable_reason(err: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in our words: torch's own text is
    long, and its first sentences suggest loading with weights_only=False, which can run code
    hidden in the file. That suggestion is never passed on."""
    text = " ".join(str(err).split())
    if "Weights only load failed" in text:
        found = re.search(r"GLOBAL (\S+)", text)
        what = f" (it names {found.group(1)})" if found else ""
        return ("it is not a plain checkpoint of tensors and numbers: loading it would need "
                f"an unsafe load that can run code from the file{what}, which regstudy never does")
    if isinstance(err, EOFError) or "central directory" in text:
        detail = "it ends too early"
    else:
        detail = f"{type(err).__name__}: {text.split('. ')[0][:120]}"
    return f"the file is truncated or corrupt ({detail})"


def load_checkpoint(path: Path, config: Dict[str, Any]) -> Dict[str, Any]:
    """Load safely; refuse a file that is unreadable, unsafe or from another configuration."""
    try:
        with warnings.catch_warnings():   # torch's note on a plain pickle's protocol
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"checkpoint {path} cannot be loaded safely: {unreadable_reason(err)}. Move the file "
            "away, or pass trainer.resume=false to start this run over.") from err
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} is not a regstudy checkpoint of format "
                              f"{FORMAT_VERSION}; pass trainer.resume=false to start over.")
    if payload.get("fingerprint") != config_fingerprint(config):
        raise CheckpointError(
            f"checkpoint {path} belongs to a different configuration than this run "
            f"({config_differences(payload.get('config', {}), config)}). Use another "
            "hydra.run.dir, or pass trainer.resume=false to overwrite it.")
    return payload
