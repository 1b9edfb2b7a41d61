"""Build train/validation/test splits on the device from a dataset config."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..paths import DEFAULT_DATA_ROOT
from .batches import DeviceSplit, Normalizer
from .decode import Split, decode
from .specs import DatasetSpec, get_spec


@dataclass
class DataBundle:
    spec: DatasetSpec
    train: DeviceSplit
    val: DeviceSplit | None
    test: DeviceSplit
    augment_pad: int


def split_train_val(split: Split, val_size: int, split_seed: int) -> tuple[Split, Split | None]:
    """Hold out `val_size` images with a permutation that depends only on `split_seed`."""
    if val_size <= 0:
        return split, None
    n = split.labels.shape[0]
    if val_size >= n:
        raise ValueError(f"dataset.val_size={val_size} must be smaller than the {n} training images")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    tr, va = perm[val_size:].sort().values, perm[:val_size].sort().values
    return (Split(split.images[tr], split.labels[tr]), Split(split.images[va], split.labels[va]))


def load_data(cfg, device: torch.device) -> DataBundle:
    """Decode once, split, subset, and move everything to `device` as uint8."""
    spec = get_spec(cfg.name)
    root = cfg.root or DEFAULT_DATA_ROOT   # an empty root (e.g. from an empty variable) is unset
    train_full = decode(spec, root, True, cfg.download, cfg.verify_checksums)
    test = decode(spec, root, False, cfg.download, cfg.verify_checksums)
    train, val = split_train_val(train_full, cfg.val_size, cfg.split_seed)
    if cfg.subset:
        train = Split(train.images[:cfg.subset], train.labels[:cfg.subset])
    if cfg.test_subset:  # evaluation subsets: the first N of validation and of test
        test = Split(test.images[:cfg.test_subset], test.labels[:cfg.test_subset])
        if val is not None:
            val = Split(val.images[:cfg.test_subset], val.labels[:cfg.test_subset])
    norm = Normalizer.create(spec.mean, spec.std, device)
    return DataBundle(
        spec=spec,
        train=DeviceSplit(train, device, norm),
        val=DeviceSplit(val, device, norm) if val is not None else None,
        test=DeviceSplit(test, device, norm),
        augment_pad=4 if cfg.augment else 0,
    )
