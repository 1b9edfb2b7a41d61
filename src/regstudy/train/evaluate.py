"""Evaluation: loss and accuracy over a split, summed on the device, one sync at the end."""

from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ..data.batches import DeviceSplit


def evaluate(model: nn.Module, split: DeviceSplit, batch_size: int,
             channels_last: bool = False) -> Dict[str, float]:
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=split.device)
    correct = torch.zeros((), device=split.device, dtype=torch.int64)
    with torch.inference_mode():
        for xb, yb in split.batches(batch_size, channels_last=channels_last):
            out = model(xb).float()
            loss_sum += F.cross_entropy(out, yb, reduction="sum")
            correct += (out.argmax(1) == yb).sum()
    model.train(was_training)
    n = len(split)
    return {"loss": loss_sum.item() / n, "acc": correct.item() / n}
