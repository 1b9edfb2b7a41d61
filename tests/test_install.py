"""A non-editable install (`pip install .`) carries every subpackage and every config, and
`regstudy train` composes its configs from the installed copy when run from another folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a fresh copy of the sources: setuptools would reuse a stale build/ folder."""
    src = tmp_path_factory.mktemp("src")
    for name in ("src", "configs"):
        shutil.copytree(REPO / name, src / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps",
                            "--no-build-isolation", "-q", "-w", str(out)],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and "No module named" in build.stderr:
        pytest.skip(f"cannot build a wheel offline here: {build.stderr.strip()[-300:]}")
    assert build.returncode == 0, build.stderr
    return next(out.glob("regstudy-*.whl"))


def test_wheel_holds_every_module_and_config(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"regstudy/{p.relative_to(REPO / 'src' / 'regstudy').as_posix()}"
               for p in (REPO / "src" / "regstudy").rglob("*.py")}
    configs = {f"regstudy/configs/{p.relative_to(REPO / 'configs').as_posix()}"
               for p in (REPO / "configs").rglob("*.yaml")}
    templates = {f"regstudy/{p.relative_to(REPO / 'src' / 'regstudy').as_posix()}"
                 for p in (REPO / "src" / "regstudy").rglob("templates/*")}
    assert modules - names == set(), "add the subpackage to [tool.setuptools] packages"
    assert configs - names == set()
    assert templates and templates - names == set(), "add templates to package-data"


def test_installed_copy_composes_configs_from_another_folder(wheel, tmp_path):
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q",
                              "--target", str(site), str(wheel)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = ("import sys, regstudy, regstudy.cli; print(regstudy.__file__); "
            "sys.exit(regstudy.cli.main(sys.argv[1:]))")
    out = subprocess.run([sys.executable, "-c", code, "train", "--cfg", "job",
                          "model=vgg38", "reg=bn_after_relu"],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[0].startswith(str(site))
    assert "  name: vgg38" in out.stdout and "  blocks_per_stage: 5" in out.stdout
    assert "    placement: bn_after_act" in out.stdout


def test_wheel_carries_the_optuna_sweeper_plugin(wheel, tmp_path):
    """Hydra finds plugins only under hydra_plugins/: the wheel ships it and an installed copy
    composes `search=l2` with regstudy's Optuna sweeper."""
    names = set(zipfile.ZipFile(wheel).namelist())
    plugin = {f"hydra_plugins/{p.relative_to(REPO / 'src' / 'hydra_plugins').as_posix()}"
              for p in (REPO / "src" / "hydra_plugins").rglob("*.py")}
    assert plugin and plugin - names == set()
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    out = subprocess.run([sys.executable, "-m", "regstudy.cli", "train", "--cfg", "hydra",
                          "search=l2"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(site)},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "_target_: hydra_plugins.regstudy_search.optuna_sweeper.OptunaSweeper" in out.stdout
    assert "reg.l2.strength: tag(log, interval(1e-6, 1e-1))" in out.stdout
