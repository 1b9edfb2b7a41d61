"""Process-level set-up for a run: device, seeds, allocator, threads."""

from __future__ import annotations

import ctypes
import os
import random

import numpy as np
import torch

from ..threads import auto_threads

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def tune_malloc(threshold_bytes: int = 256 * 1024 * 1024) -> bool:
    """Raise glibc's mmap/trim thresholds so per-step activations reuse the heap.

    With the defaults every large tensor is a fresh mmap, which page-faults on each
    step; raising them keeps freed blocks for reuse. No-op where glibc is absent or
    the user already set MALLOC_* variables.
    """
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes) == 1
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2 * threshold_bytes) == 1
    return bool(ok)


def apply_threads(requested: int) -> int:
    """Set torch's intra-op threads to `requested` (0 = auto, `threads.auto_threads`: the
    parallel launcher's budget, OMP_NUM_THREADS, or the CPUs of this process) and return it.
    The thread count changes float reduction order, so it is part of what a run computes and
    is always set, never inherited from an earlier run in the same process."""
    threads = requested or auto_threads()
    torch.set_num_threads(threads)
    return threads


class DeviceError(ValueError):
    pass


def pick_device(name: str) -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA without it is an error, not a CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"trainer.device={name} but CUDA is not available here; "
                              "use trainer.device=cpu or trainer.device=auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"trainer.device={name} but only {torch.cuda.device_count()} "
                              "CUDA device(s) exist")
        return dev
    if name == "cpu":
        return torch.device("cpu")
    raise DeviceError(f"trainer.device={name!r} is not one of auto, cpu, cuda, cuda:N")


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True
