"""Each arm's chosen configuration as a config-group file, and the remove-one ablation arms.

After tuning, arm NAME is `DIR/conf/arm/NAME.yaml`: the whole `reg` node composed with the
arm's regularizers and its best overrides (plus any other tuned key). The final sweep selects
it with `+arm=NAME`, so the arm is the one override that varies between final runs and the
record of every run holds the values it was trained with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Tuple

from omegaconf import OmegaConf

from ..record.run_record import override_key
from .commands import ARM_GROUP
from .compose import Composer
from .spec import Arm, Study, StudyError


def arm_node(composer: Composer, regs: List[str], overrides: List[str]) -> Dict[str, Any]:
    """The config an arm trains with, as the keys its file sets: `reg` and any tuned key."""
    cfg = composer.compose([f"reg=[{','.join(regs)}]", *overrides])
    node = OmegaConf.create({"reg": OmegaConf.to_container(cfg.reg, resolve=True)})
    for key in map(override_key, overrides):
        if not key.startswith("reg."):
            OmegaConf.update(node, key, OmegaConf.select(cfg, key), force_add=True)
    return OmegaConf.to_container(node)


def write_arm(conf_dir: Path, name: str, node: Dict[str, Any], note: str) -> Path:
    """Write (only when changed) the arm's config-group file; returns its path."""
    path = Path(conf_dir) / ARM_GROUP / f"{name}.yaml"
    text = f"# @package _global_\n# {note}\n" + OmegaConf.to_yaml(OmegaConf.create(node))
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def best_combination(study: Study, searches: Dict[str, Dict[str, Any]]) -> Arm:
    """The tuned arm of two or more regularizers with the best objective on validation."""
    combos = [a for a in study.arms if len(a.regs) > 1 and a.name in searches]
    if not combos:
        raise StudyError("study.ablation=best: no tuned arm combines two or more regularizers")

    def score(arm: Arm) -> float:  # each search.json states the direction it optimized
        search = searches[arm.name]
        return (1.0 if search["direction"] == "maximize" else -1.0) * search["best"]["value"]

    return max(combos, key=score)


def ablation_arms(composer: Composer, source: Arm,
                  overrides: List[str]) -> List[Tuple[Arm, List[str]]]:
    """`source` without each of its regularizers in turn, at `source`'s tuned values."""
    out = []
    for reg in source.regs:
        regs = [r for r in source.regs if r != reg]
        kept = [ov for ov in overrides if composer.has_knob(regs, override_key(ov))]
        out.append((Arm(f"{source.name}_minus_{reg}", regs, source=source.name), kept))
    return out
