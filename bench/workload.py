"""The benchmark's configuration: regstudy's own composed config, and the shared workload.

Every variant reads its model, data, optimizer, seed and batch size from the config
`regstudy train` would compose from the same overrides, so they cannot drift apart.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import List

import numpy as np


def write_synthetic_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Random CIFAR-shaped images in CIFAR-10's on-disk format (the real files are not here),
    so regstudy, the minimal loop and torchvision's CIFAR10 class all read the same data."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, n: int) -> None:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                         "labels": rng.integers(0, 10, n).tolist()}, f, protocol=2)

    for i, part in enumerate(np.array_split(np.arange(n_train), 5), start=1):
        dump(f"data_batch_{i}", len(part))
    dump("test_batch", n_test)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)]}, f, protocol=2)


def data_overrides(synthetic_root: Path | None, synthetic_size: int) -> List[str]:
    """Dataset overrides: regstudy's MNIST default, or the synthetic CIFAR-10 files."""
    if synthetic_root is None:
        return []
    return ["dataset=cifar10", f"dataset.root={synthetic_root}", "dataset.download=false",
            "dataset.verify_checksums=false", "dataset.augment=false",
            f"dataset.val_size={synthetic_size // 10}"]


def build_workload(overrides: List[str], workdir: Path):
    """Decode the data once, exactly as a regstudy run does, and keep it for every variant."""
    import torch

    from bench.loops import Workload
    from regstudy.config.compose import compose
    from regstudy.data.datamodule import load_data, split_train_val
    from regstudy.data.decode import Split, open_torchvision
    from regstudy.training.runtime import pick_device

    cfg = compose(overrides)
    device = pick_device(cfg.trainer.device)
    data = load_data(cfg.dataset, device)
    dcfg = cfg.dataset
    tv_train = open_torchvision(data.spec, dcfg.root, True, False, dcfg.verify_checksums)
    # regstudy's training images as indices into torchvision's training set: the same split
    # function applied to an "image" tensor of indices, then the same subset.
    ids = torch.arange(len(tv_train))
    train, _ = split_train_val(Split(ids, ids), dcfg.val_size, dcfg.split_seed)
    indices = train.images[:dcfg.subset or None]
    labels = torch.as_tensor(tv_train.targets)[indices]
    if not torch.equal(labels, data.train.labels.cpu()):
        raise RuntimeError("torchvision's images at regstudy's training indices are not "
                           "regstudy's training images; the comparison would be unfair")
    return Workload(cfg, list(overrides), device, data, indices.tolist(), tv_train, workdir)
