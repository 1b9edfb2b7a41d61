"""Device-resident datasets and the batches the training loop consumes.

Images stay uint8 on the training device; a batch is an index into them, converted
to float, normalized and (for CIFAR) augmented as one tensor. No per-image PIL
transform, no DataLoader worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Tuple

import torch

from .decode import Split


@dataclass
class Normalizer:
    """x -> (x/255 - mean)/std, folded into one multiply-add: x*scale + shift."""

    scale: torch.Tensor   # 1 x C x 1 x 1
    shift: torch.Tensor   # 1 x C x 1 x 1

    @classmethod
    def create(cls, mean, std, device) -> Normalizer:
        m = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        s = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return cls(1.0 / (255.0 * s), -m / s)

    def __call__(self, images_u8: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images_u8.float(), self.scale)


def random_crop_flip(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding=pad) with zero fill + RandomHorizontalFlip, per image, batched.

    `x` is the uint8 batch (zero padding is black, as torchvision pads the PIL image).
    Offsets and flips are drawn on the CPU generator so runs are reproducible on any device.
    """
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen).to(x.device)
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)
    rows = oy[:, None] + torch.arange(h, device=x.device)[None, :]                  # n x h
    cols = torch.arange(w, device=x.device)[None, :].expand(n, w)
    cols = torch.where(flip[:, None], cols.flip(1), cols) + ox[:, None]              # n x w
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]      # n x h x w x c
    return out.permute(0, 3, 1, 2).contiguous()


class DeviceSplit:
    """One split held on the device, iterated in (optionally shuffled) batches."""

    def __init__(self, split: Split, device: torch.device, normalizer: Normalizer) -> None:
        self.images = split.images.to(device)
        self.labels = split.labels.to(device)
        self.normalizer = normalizer
        self.device = device

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batches(self, batch_size: int, gen: torch.Generator | None = None,
                augment_pad: int = 0, aug_gen: torch.Generator | None = None,
                channels_last: bool = False, start_batch: int = 0,
                ) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Yield normalized float batches; shuffled when `gen` is given (drawn on the CPU).

        `start_batch` skips the first batches of this order without drawing augmentations,
        so an epoch interrupted by a checkpoint continues exactly where it stopped.
        """
        n = len(self)
        order = torch.randperm(n, generator=gen).to(self.device) if gen is not None else None
        for start in range(start_batch * batch_size, n, batch_size):
            if order is None:
                xb = self.images[start:start + batch_size]
                yb = self.labels[start:start + batch_size]
            else:
                idx = order[start:start + batch_size]
                xb, yb = self.images[idx], self.labels[idx]
            if augment_pad:
                xb = random_crop_flip(xb, augment_pad, aug_gen)
            xb = self.normalizer(xb)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            yield xb, yb
