"""What each dataset is: shape, classes, normalization constants and the files it needs.

Torch-free, so validation and error messages can use it without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    torchvision_class: str
    folder: str                 # sub-folder of the data root torchvision reads
    files: Tuple[str, ...]      # the files that must be there (relative to the root)
    channels: int
    image_size: int
    num_classes: int
    train_size: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]


_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

SPECS: Dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", "MNIST", "MNIST/raw", _MNIST_FILES, 1, 28, 10, 60000,
                         (0.1307,), (0.3081,)),
    "fashion_mnist": DatasetSpec("fashion_mnist", "FashionMNIST", "FashionMNIST/raw", _MNIST_FILES,
                                 1, 28, 10, 60000, (0.2860,), (0.3530,)),
    "cifar10": DatasetSpec("cifar10", "CIFAR10", "cifar-10-batches-py",
                           tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch", "batches.meta"),
                           3, 32, 10, 50000, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetSpec("cifar100", "CIFAR100", "cifar-100-python", ("train", "test", "meta"),
                            3, 32, 100, 50000, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


def get_spec(name: str) -> DatasetSpec:
    if name not in SPECS:
        raise KeyError(f"dataset={name!r} is not one of {sorted(SPECS)}")
    return SPECS[name]
