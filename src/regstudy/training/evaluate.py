"""Evaluation: loss and accuracy over a split, summed on the device, one sync at the end.

Observers that ask for a split's activation sites (`wants_eval_sites`) get each batch's record
through `on_eval`; without them the pass records nothing and costs what it always did.
"""

from __future__ import annotations

from typing import Dict, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import DeviceSplit
from ..models.sites import record_sites


def evaluate(model: nn.Module, split: DeviceSplit, batch_size: int,
             channels_last: bool = False, observers: Sequence = (),
             split_name: str = "val") -> Dict[str, float]:
    watching = [o for o in observers if o.wants_eval_sites(split_name)]
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=split.device)
    correct = torch.zeros((), device=split.device, dtype=torch.int64)
    with torch.inference_mode():
        for xb, yb in split.batches(batch_size, channels_last=channels_last):
            with record_sites(model, bool(watching)) as rec:
                out = model(xb).float()
            for obs in watching:
                obs.on_eval(split_name, model, rec)
            loss_sum += F.cross_entropy(out, yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = len(split)
    return {"loss": loss_sum.item() / n, "acc": correct.item() / n}
