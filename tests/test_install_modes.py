"""`hydra/sweeper=optuna` is found however regstudy is installed: a plain `pip install -e .`
(setuptools' default editable mode, whose import hook Hydra's plugin scan does not see) and a
`pip install .`, each in a fresh virtual environment, run from another folder.

The fresh environment reuses this interpreter's installed dependencies through a .pth line
(no network), and installs regstudy itself with --ignore-installed, so nothing outside the
temporary folder changes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow   # builds and installs regstudy twice


def fresh_install(tmp: Path, editable: bool) -> Path:
    """A venv with regstudy installed from a copy of the sources; returns its python."""
    src = tmp / "src"
    for name in ("src", "configs"):
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"])
    target = ["-e", str(src)] if editable else [str(src)]
    out = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                          "--no-build-isolation", "--ignore-installed", *target],
                         cwd=tmp, capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and "No module named" in out.stderr:
        pytest.skip(f"cannot build offline here: {out.stderr.strip()[-300:]}")
    assert out.returncode == 0, out.stderr[-2000:]
    return python


def regstudy(python: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(python), "-m", "regstudy.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("editable", [True, False], ids=["pip-install-e", "pip-install"])
def test_sweeper_found_in_a_fresh_install(tmp_path, editable):
    python = fresh_install(tmp_path, editable)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = regstudy(python, elsewhere, "train", "--cfg", "job")
    assert where.returncode == 0, where.stderr[-2000:]
    out = regstudy(python, elsewhere, "train", "--cfg", "hydra", "search=l2")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "_target_: hydra_plugins.regstudy_search.optuna_sweeper.OptunaSweeper" in out.stdout
    located = subprocess.run([str(python), "-c", "import regstudy; print(regstudy.__file__)"],
                             cwd=elsewhere, capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert str(tmp_path) in located.stdout          # the fresh install, not this checkout
    plan = regstudy(python, elsewhere, "study", "experiment=psp_mnist", "--dry-run",
                    "study.only=[none,psp]", "study.final.seeds=2")
    assert plan.returncode == 0, plan.stderr[-2000:]
    assert "launcher: hydra/launcher=joblib" in plan.stdout
