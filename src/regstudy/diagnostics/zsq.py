"""<z^2>: the mean squared input of every activation site (and of the logits), for every run.

This is the quantity PSP penalises, so logging it whatever the regularizer lets PSP, L2 and no
regularization be compared as in the PSP paper's figure of <z^2> over epochs. Per epoch it gives
the sample-weighted mean of mean(z^2) per site over the recorded training batches and over the
whole validation pass, and the mean over sites: history keys and TensorBoard tags `zsq/<site>`,
`zsq/mean` (training) and `zsq_val/<site>`, `zsq_val/mean` (validation). With PSP's default
`layer_mean` reduction, `zsq/mean` is exactly the penalty divided by its strength.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from torch import nn

from ..models.sites import SiteRecord
from ..observer import Observer
from ..regularizers.psp import accumulation_dtype


def unique_names(names: List[str]) -> List[str]:
    """Site names in call order; a site called twice in one forward pass gets name#2, name#3..."""
    seen: Dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


class SiteMeans:
    """Per-site mean of z^2 over the samples of every recorded batch, summed on the device.

    Each batch costs one fused norm over its sites (`torch._foreach_norm`) and no host sync;
    `flush` fetches the epoch's means in one transfer.
    """

    def __init__(self) -> None:
        self.names: Optional[List[str]] = None
        self.inv_units: Optional[torch.Tensor] = None  # 1 / (units per sample), per site
        self.dtype = torch.float32
        self.sums: Optional[torch.Tensor] = None        # sum over samples of mean_units(z^2)
        self.samples = 0

    def add(self, rec: SiteRecord) -> None:
        zs = [z.detach() for z in rec.tensors]
        if self.inv_units is None:   # first batch (of the run, or after a resume)
            names = unique_names(rec.names)
            if self.names is not None and names != self.names:
                raise RuntimeError(f"<z^2>: sites {names} differ from the checkpoint's "
                                   f"{self.names}")
            self.names = names
            self.dtype = accumulation_dtype(zs)
            self.inv_units = torch.tensor([1.0 / z[0].numel() for z in zs],
                                          dtype=self.dtype, device=zs[0].device)
        elif len(zs) != len(self.names):
            raise RuntimeError(f"<z^2>: the forward pass recorded {len(zs)} sites, earlier ones "
                               f"{len(self.names)}; site order must not change between batches")
        sq = torch.stack(torch._foreach_norm(zs, 2, dtype=self.dtype)).square()
        batch = sq * self.inv_units          # = batch size * mean(z^2), per site
        self.sums = batch if self.sums is None else self.sums + batch
        self.samples += zs[0].shape[0]

    def flush(self, prefix: str) -> Dict[str, float]:
        """`prefix/<site>` and `prefix/mean` over what was added since the last flush."""
        if self.sums is None or not self.samples:
            return {}
        values = (self.sums / self.samples).tolist()   # the one host sync
        self.sums, self.samples = None, 0
        out = {f"{prefix}/{name}": v for name, v in zip(self.names, values)}
        out[f"{prefix}/mean"] = sum(values) / len(values)
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {"names": self.names, "samples": self.samples,
                "sums": None if self.sums is None else self.sums.cpu()}

    def load_state_dict(self, state: Dict[str, Any], device: torch.device) -> None:
        sums = state.get("sums")
        if sums is not None:   # inv_units is rebuilt from the next batch; names must match it
            self.names, self.sums = list(state["names"]), sums.to(device)
        self.samples = int(state.get("samples", 0))


class ZSquared(Observer):
    """<z^2> per site on every `every_n_steps`-th training batch and on the validation pass.

    The training-batch z are those the step's forward pass already computed (before dropout,
    which follows the activation), measured after the backward pass and before the update.
    """

    def __init__(self, model: nn.Module, every_n_steps: int) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps={every_n_steps} must be >= 1")
        self.every = every_n_steps
        self.device = next(model.parameters()).device
        self.train = SiteMeans()
        self.val = SiteMeans()

    def wants_sites(self, step: int) -> bool:
        return step % self.every == 0

    def after_backward(self, step: int, model: nn.Module, rec: SiteRecord) -> None:
        if step % self.every == 0 and rec.tensors:
            self.train.add(rec)

    def wants_eval_sites(self, split: str) -> bool:
        return split == "val"

    def on_eval(self, split: str, model: nn.Module, rec: SiteRecord) -> None:
        if split == "val" and rec.tensors:
            self.val.add(rec)

    def epoch_summary(self, epoch: int, step: int) -> Dict[str, Any]:
        return {**self.train.flush("zsq"), **self.val.flush("zsq_val")}

    def state_dict(self) -> Dict[str, Any]:
        """The training sums of an epoch cut by a mid-epoch checkpoint (validation runs whole)."""
        return {"train": self.train.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.train.load_state_dict(state.get("train", {}), self.device)
