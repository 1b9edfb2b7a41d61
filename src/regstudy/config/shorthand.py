"""`reg.strength` / `reg.p`: shorthands for the single active regularizer with that parameter.

`reg=l2 reg.strength=1e-3` means `reg.l2.strength=1e-3`. With two candidates
(reg=[l2,psp]) the shorthand is ambiguous and rejected, naming the explicit keys.
"""

from __future__ import annotations

from typing import List

from omegaconf import DictConfig, open_dict

SHORTHANDS = ("strength", "p")


def resolve_shorthands(cfg: DictConfig) -> List[str]:
    """Move reg.<shorthand> into the regularizer that owns it; returns errors (one line each)."""
    errors: List[str] = []
    reg = cfg.reg
    for key in SHORTHANDS:
        value = reg.get(key)
        if value is None:
            continue
        owners = [name for name in reg if name not in SHORTHANDS and reg[name] is not None
                  and key in reg[name]]
        if len(owners) != 1:
            explicit = ", ".join(f"reg.{o}.{key}" for o in owners) or "none: no active regularizer has it"
            errors.append(f"reg.{key}={value} is ambiguous or unused with reg={_active(reg)}; "
                          f"set it explicitly ({explicit})")
            continue
        with open_dict(cfg):
            reg[owners[0]][key] = value
            reg[key] = None
    return errors


def _active(reg: DictConfig) -> str:
    names = [n for n in reg if n not in SHORTHANDS and reg[n] is not None]
    return "[" + ",".join(names) + "]" if len(names) != 1 else (names[0] if names else "none")


__all__ = ["resolve_shorthands"]
