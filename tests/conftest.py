"""Shared fixtures: where real data is, and how to run the CLI as a user would."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

REPO = Path(__file__).resolve().parents[1]
MNIST_FILES = ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte")


def real_data_root(name: str = "MNIST") -> Optional[Path]:
    """The REGSTUDY_DATA root if it holds the real `name` files, else None."""
    root = os.environ.get("REGSTUDY_DATA")
    if not root:
        return None
    raw = Path(root) / name / "raw"
    return Path(root) if all((raw / f).is_file() for f in MNIST_FILES) else None


@pytest.fixture
def mnist_root() -> Path:
    root = real_data_root("MNIST")
    if root is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA to a folder with MNIST/raw/*-ubyte "
                    "(CI exports ../shared/datasets)")
    return root


def free_port() -> int:
    """A loopback port nobody listens on now (for servers a test starts: TensorBoard, PostgreSQL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def positive_finite(x) -> bool:
    """A measured rate or time: a number, finite and above zero."""
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def data_root() -> Path:
    """The real MNIST root for module-scoped fixtures (a search or sweep shared by its tests)."""
    root = real_data_root("MNIST")
    if root is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA to a folder with MNIST/raw/*-ubyte")
    return root


@pytest.fixture
def fmnist_root() -> Path:
    root = real_data_root("FashionMNIST")
    if root is None:
        pytest.skip("real Fashion-MNIST not found under REGSTUDY_DATA")
    return root


def run_cli(args: List[str], cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `regstudy ARGS` in a subprocess, exactly as a user would (no stdin, no terminal)."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run([sys.executable, "-m", "regstudy.cli", *args], cwd=cwd or REPO,
                          env=full_env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def cli_in_process(args: List[str], env: Optional[Dict[str, str]] = None
                   ) -> subprocess.CompletedProcess:
    """`regstudy ARGS` through `regstudy.cli.main` in this process: what `run_cli` checks, without
    paying for a new interpreter and the torch import. For runs whose behaviour does not depend
    on being a process of their own (no kills, signals, exit codes of a crash, import costs)."""
    import contextlib
    import io
    import traceback

    from regstudy import cli

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in ("HYDRA_FULL_ERROR", *(env or {}))}
    os.environ.update({"HYDRA_FULL_ERROR": "0", **(env or {})})
    argv = sys.argv
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except Exception:  # what the interpreter would print before exiting with 1
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = argv
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return subprocess.CompletedProcess(["regstudy", *args], code, out.getvalue(), err.getvalue())


def read_metrics(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "metrics.json").read_text())


# Settings for a seconds-long run on real MNIST.
TINY = ["dataset.subset=500", "dataset.val_size=500", "dataset.test_subset=500",
        "trainer.epochs=1", "trainer.batch_size=50", "trainer.eval_batch_size=500"]
