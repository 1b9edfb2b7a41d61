"""Decode a dataset once, through torchvision's own dataset classes, into uint8 tensors."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .specs import DatasetSpec


class DataNotFoundError(RuntimeError):
    """The files are missing and could not be downloaded."""


@dataclass
class Split:
    images: torch.Tensor   # uint8, N x C x H x W
    labels: torch.Tensor   # int64, N


def _dataset_class(spec: DatasetSpec, verify_checksums: bool):
    import torchvision.datasets as tvd

    cls = getattr(tvd, spec.torchvision_class)
    if verify_checksums or not spec.name.startswith("cifar"):
        return cls

    class Unverified(cls):  # type: ignore[misc, valid-type]
        """CIFAR without the MD5 check, for files in the real format but not the real content."""

        train_list = [(name, None) for name, _ in cls.train_list]
        test_list = [(name, None) for name, _ in cls.test_list]
        meta = {**cls.meta, "md5": None}

    return Unverified


def missing_files(spec: DatasetSpec, root: str) -> list[str]:
    folder = Path(root) / spec.folder
    return [f for f in spec.files if not (folder / f).is_file()]


def _first_missing(path: Path) -> Optional[Path]:
    """The outermost folder of `path` that does not exist yet (None when it all exists)."""
    path = path.absolute()
    missing = None
    while not path.exists():
        missing, path = path, path.parent
    return missing


def open_torchvision(spec: DatasetSpec, root: str, train: bool, download: bool,
                     verify_checksums: bool = True):
    """torchvision's dataset object; a clear error instead of urllib's when files are missing."""
    cls = _dataset_class(spec, verify_checksums)
    root = os.path.expanduser(root)
    need = missing_files(spec, root)
    if need and download:
        created = _first_missing(Path(root) / spec.folder)
        try:
            return cls(root, train=train, download=True)
        except Exception as err:  # urllib / HTTP / checksum errors: all mean "could not fetch"
            reason = f"download failed ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
            if created is not None:   # the folders the failed download made, and its leftovers
                shutil.rmtree(created, ignore_errors=True)
    elif need:
        reason = "download is off (dataset.download=false)"
    else:
        try:
            return cls(root, train=train, download=False)
        except RuntimeError as err:
            raise DataNotFoundError(
                f"{spec.name}: files in {Path(root) / spec.folder} could not be read: {err}. "
                "For small test files in the CIFAR format set dataset.verify_checksums=false.") from err
    raise DataNotFoundError(
        f"{spec.name} not found: {reason}. Expected folder {Path(root).resolve() / spec.folder} "
        f"with files {', '.join(spec.files)} (missing: {', '.join(need)}). "
        "Point dataset.root=... or the REGSTUDY_DATA environment variable at a folder that has them.")


def decode(spec: DatasetSpec, root: str, train: bool, download: bool = True,
           verify_checksums: bool = True) -> Split:
    """All images of one split as a uint8 NCHW tensor (what torchvision's ToTensor would see x255)."""
    ds = open_torchvision(spec, root, train, download, verify_checksums)
    data = ds.data
    if isinstance(data, np.ndarray):          # CIFAR: N x H x W x C numpy
        images = torch.from_numpy(np.ascontiguousarray(data)).permute(0, 3, 1, 2).contiguous()
    else:                                      # MNIST-like: N x H x W uint8 tensor
        images = data.unsqueeze(1).contiguous()
    labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return Split(images, labels)
