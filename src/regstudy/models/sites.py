"""Activation sites: the one place every model exposes the tensors fed to its activations.

Each activation is an `ActSite` wrapping the activation module; the logits pass
through a `LogitSite`. `record_sites(model)` makes every site append its input
(the pre-activation z) to one list during a forward pass. No forward hooks and
no per-model code: PSP, the z^2 statistics and the diagnostics all read this list.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
from torch import nn


class SiteRecord:
    """The pre-activations of one forward pass, in call order, with their site names."""

    def __init__(self) -> None:
        self.tensors: List[torch.Tensor] = []
        self.names: List[str] = []

    def add(self, name: str, x: torch.Tensor) -> None:
        self.names.append(name)
        self.tensors.append(x)


class Site(nn.Module):
    """Base of all sites: records its input when a recorder is attached."""

    def __init__(self) -> None:
        super().__init__()
        self.store: Optional[SiteRecord] = None
        self.site_name: str = ""

    def record(self, x: torch.Tensor) -> None:
        if self.store is not None:
            self.store.add(self.site_name, x)


class ActSite(Site):
    """An activation function plus the site that records its input z."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.record(x)
        return self.act(x)


class LogitSite(Site):
    """Identity on the logits, so they can be penalised or measured like any other site."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.record(x)
        return x


def site_modules(model: nn.Module) -> List[Site]:
    """Sites in registration order, each named after its module path."""
    sites = []
    for name, mod in model.named_modules():
        if isinstance(mod, Site):
            mod.site_name = name
            sites.append(mod)
    return sites


def site_names(model: nn.Module) -> List[str]:
    return [s.site_name for s in site_modules(model)]


@contextmanager
def record_sites(model: nn.Module, enabled: bool = True) -> Iterator[SiteRecord]:
    """Attach one shared record to every site for the duration of the block."""
    rec = SiteRecord()
    if not enabled:
        yield rec
        return
    sites = site_modules(model)
    for s in sites:
        s.store = rec
    try:
        yield rec
    finally:
        for s in sites:
            s.store = None
