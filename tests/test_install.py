"""A non-editable install (`pip install .`) carries every subpackage and every config, and
`regstudy train` composes its configs from the installed copy when run from another folder;
the wheel installed into a fresh virtual environment runs the commands a user starts with."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
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
    assert modules - names == set(), "a subpackage is missing from the wheel"
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


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A new virtual environment with the wheel installed, seeing this environment's packages
    after its own (so torch is not downloaded) and not this checkout; its bin/ folder."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True,
                   timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    here = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (Path(site) / "this_environment.pth").write_text("\n".join(sorted(here)) + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return venv / "bin"


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_composes_searches_and_reports(wheel, tmp_path):
    from .report_runs import write_study

    bin_dir = _fresh_venv(tmp_path, wheel)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def regstudy(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([str(bin_dir / "regstudy"), *args], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr[-2000:]
        return out

    where = subprocess.run([str(bin_dir / "python"), "-c", "import regstudy; print(regstudy.__file__)"],
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(tmp_path / "venv")), where
    job = regstudy("train", "--cfg", "job").stdout
    assert "  name: lenet5" in job and "  momentum: 0.9" in job
    sweep = regstudy("train", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
                     "--cfg", "hydra").stdout
    assert "_target_: hydra_plugins.regstudy_search.optuna_sweeper.OptunaSweeper" in sweep
    assert "n_trials: 3" in sweep
    runs = write_study(tmp_path / "sweep", {"none": [0.10, 0.12], "l2": [0.08, 0.09]})
    regstudy("report", str(runs), "--baseline", "reg=none", "--out", str(tmp_path / "page.html"))
    page = (tmp_path / "page.html").read_text()
    assert page.lstrip().lower().startswith("<!doctype html") and "reg=l2" in page
