"""PSP regularization: penalise the post-synaptic potentials z (Tartaglione, Perlo, Grangetto,
"Post-synaptic potential regularization has potential", ICANN 2019).

z is what each activation function receives (the affine output, after batch norm where BN
precedes the activation) and, by default, the logits. Two normalizations, both explicit because
they differ by orders of magnitude at the same lambda:

* ``layer_mean`` (the authors' code, the default): (lambda / L) * sum_l mean(z_l^2), the mean
  running over batch, channels and positions of site l, L the number of penalised sites;
* ``sum`` (the paper's formula): lambda * 1/2 * sum_l sum_k z_lk^2 per sample, averaged over
  the batch.

The z are the activation sites of the training step's own forward pass, so the single backward
pass carries the penalty into every earlier layer. Each step costs one fused norm over all the
selected sites (`torch._foreach_norm`) and, in the backward pass, one multiply per site; which
sites to take is decided once.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from torch import nn

from ..models.sites import LogitSite, SiteRecord, site_modules
from .base import Regularizer, register_regularizer


def logit_flags(model: nn.Module) -> Dict[str, bool]:
    """Site name -> whether the site carries the logits (rather than an activation's input)."""
    return {s.site_name: isinstance(s, LogitSite) for s in site_modules(model)}


def accumulation_dtype(zs: Sequence[torch.Tensor]) -> torch.dtype:
    """float32 for float32 and lower precisions (autocast's bf16/fp16 z), else the widest dtype."""
    dtype = torch.float32
    for z in zs:
        dtype = torch.promote_types(dtype, z.dtype)
    return dtype


class SquaredNorms(torch.autograd.Function):
    """||z_l||^2 for every site in one fused pass; the gradient 2 g_l z_l in one multiply per site.

    Autograd's own norm backward takes a divide, a multiply and a zero-norm mask per tensor;
    on small CPU models that difference is what keeps PSP within its cost budget.
    """

    @staticmethod
    def forward(ctx, dtype: torch.dtype, *zs: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(*zs)
        return torch.stack(torch._foreach_norm(zs, 2, dtype=dtype)).square()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor):
        zs = ctx.saved_tensors
        return (None, *(z * c.to(z.dtype) for z, c in zip(zs, (2 * grad).unbind())))


def select_sites(call_names: Sequence[str], is_logits: Dict[str, bool], wanted: Sequence[str],
                 include_logits: bool) -> List[int]:
    """Positions in the forward pass's record of the sites to penalise.

    `wanted` empty means every site; the logits are taken only when `include_logits` is true.
    """
    unknown = sorted(set(wanted) - set(is_logits))
    if unknown:
        raise ValueError(f"reg.psp.sites has {unknown}, not sites of this model; "
                         f"choose from {list(is_logits)}")
    listed_logits = [n for n in wanted if is_logits[n]]
    if listed_logits and not include_logits:
        raise ValueError(f"reg.psp.sites lists the logits {listed_logits} but "
                         "reg.psp.include_logits=false; drop one of the two")
    return [i for i, name in enumerate(call_names)
            if (not wanted or name in wanted) and (include_logits or not is_logits[name])]


@register_regularizer("psp")
class PSP(Regularizer):
    needs_sites = True

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.strength = float(cfg.strength)
        self.reduction = str(cfg.reduction)
        self._index: Optional[List[int]] = None
        self._calls = 0
        self._inv_numel: Optional[torch.Tensor] = None  # 1 / (units per sample), per site
        self._dtype = torch.float32

    def check(self, model: nn.Module) -> None:
        flags = logit_flags(model)
        select_sites(list(flags), flags, list(self.cfg.sites), bool(self.cfg.include_logits))

    def _prepare(self, model: nn.Module, rec: SiteRecord) -> None:
        self._index = select_sites(rec.names, logit_flags(model), list(self.cfg.sites),
                                   bool(self.cfg.include_logits))
        self._calls = len(rec.names)
        zs = [rec.tensors[i] for i in self._index]
        self._dtype = accumulation_dtype(zs)
        self._inv_numel = torch.tensor([1.0 / z[0].numel() for z in zs], dtype=self._dtype,
                                       device=zs[0].device if zs else None)

    def penalty(self, model: nn.Module, rec: SiteRecord) -> Optional[torch.Tensor]:
        if self._index is None:
            self._prepare(model, rec)
        elif len(rec.tensors) != self._calls:
            raise RuntimeError(f"PSP: the forward pass recorded {len(rec.tensors)} sites, the "
                               f"first one {self._calls}; site order must not change between steps")
        if not self._index:
            return None
        zs = [rec.tensors[i] for i in self._index]
        sq = SquaredNorms.apply(self._dtype, *zs)
        batch = zs[0].shape[0]
        if self.reduction == "sum":
            return sq.sum() * (self.strength / (2 * batch))
        return torch.dot(sq, self._inv_numel) * (self.strength / (len(zs) * batch))
