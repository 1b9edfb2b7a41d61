"""What the GPU check's measurements share: random data held on the device in regstudy's own
containers, and a clock that waits for the device."""

from __future__ import annotations

import time

import torch

from regstudy.data.batches import DeviceSplit, Normalizer
from regstudy.data.datamodule import DataBundle
from regstudy.data.decode import Split
from regstudy.data.specs import get_spec


def random_bundle(dataset: str, n: int, device: torch.device, seed: int = 0) -> DataBundle:
    """`n` random uint8 images and labels of `dataset`'s shape, on `device`, in the containers
    the loop reads (no validation split: only training is timed)."""
    spec = get_spec(dataset)
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, spec.channels, spec.image_size, spec.image_size),
                           generator=gen, dtype=torch.uint8)
    labels = torch.randint(0, spec.num_classes, (n,), generator=gen)
    norm = Normalizer.create(spec.mean, spec.std, device)
    split = DeviceSplit(Split(images, labels), device, norm)
    return DataBundle(spec=spec, train=split, val=None, test=split, augment_pad=0)


def sync(device: torch.device) -> None:
    """Wait for queued device work, so a host clock read after it covers that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Seconds between `start` and `stop`, both taken after the device has caught up."""

    def __init__(self, device: torch.device) -> None:
        self.device, self.seconds = device, 0.0

    def __enter__(self) -> Clock:
        sync(self.device)
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        sync(self.device)
        self.seconds = time.perf_counter() - self._t


def device_name(device: torch.device) -> str:
    """What the device is, for the report's header."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({torch.get_num_threads()} torch threads)"


def device_properties(device: torch.device) -> dict:
    """The card's name, memory, multiprocessors and compute capability (empty on the CPU)."""
    if device.type != "cuda":
        return {}
    p = torch.cuda.get_device_properties(device)
    return {"name": p.name, "total_memory_gib": round(p.total_memory / 2**30, 1),
            "multiprocessors": p.multi_processor_count, "capability": f"{p.major}.{p.minor}"}
