"""Small CIFAR-10/100 files in the real on-disk format (python pickles), for loader tests.

The real archives are not available offline; these files have the same layout, keys and
dtypes, with random pixels, so torchvision's own CIFAR classes read them
(with the MD5 check skipped: dataset.verify_checksums=false).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Dict

import numpy as np


def _dump(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    # One row per image: 1024 red, then 1024 green, then 1024 blue values, row-major.
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)


def write_cifar10(root: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> Dict[str, np.ndarray]:
    """`cifar-10-batches-py/data_batch_1..5`, `test_batch`, `batches.meta` under `root`."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    per_batch = np.array_split(np.arange(n_train), 5)
    train_x, train_y = _images(rng, n_train), rng.integers(0, 10, n_train).tolist()
    for i, idx in enumerate(per_batch, start=1):
        _dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5",
                                           "data": train_x[idx], "labels": [train_y[j] for j in idx],
                                           "filenames": [f"img{j}.png" for j in idx]})
    test_x, test_y = _images(rng, n_test), rng.integers(0, 10, n_test).tolist()
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": test_x,
                                  "labels": test_y, "filenames": [f"t{j}.png" for j in range(n_test)]})
    _dump(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)],
                                    "num_cases_per_batch": 10000, "num_vis": 3072})
    return {"train_x": train_x, "train_y": np.array(train_y), "test_x": test_x, "test_y": np.array(test_y)}


def write_cifar100(root: Path, n_train: int = 50, n_test: int = 20, seed: int = 0) -> Dict[str, np.ndarray]:
    """`cifar-100-python/train`, `test`, `meta` under `root`."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        x, fine = _images(rng, n), rng.integers(0, 100, n).tolist()
        _dump(folder / split, {"filenames": [f"{split}{j}.png" for j in range(n)],
                               "batch_label": f"{split} batch", "fine_labels": fine,
                               "coarse_labels": [f // 5 for f in fine], "data": x})
        out[f"{split}_x"], out[f"{split}_y"] = x, np.array(fine)
    _dump(folder / "meta", {"fine_label_names": [f"fine{i}" for i in range(100)],
                            "coarse_label_names": [f"coarse{i}" for i in range(20)]})
    return out


def write_cifar(name: str, root: Path, n_train: int = 50, n_test: int = 20, seed: int = 0):
    return {"cifar10": write_cifar10, "cifar100": write_cifar100}[name](root, n_train, n_test, seed)
