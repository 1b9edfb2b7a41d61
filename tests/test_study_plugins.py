"""`regstudy study` loads the launcher and sweeper its stages will use before it plans or runs:
one that is not installed stops it with one line and exit 2, --dry-run included."""

from __future__ import annotations

from regstudy.cli.study import main


def test_a_launcher_that_is_not_installed_stops_the_dry_run(tmp_path, capsys):
    out = tmp_path / "study"
    code = main(["experiment=psp_mnist", "hydra/launcher=ray", "--dry-run", "--dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("regstudy study: error: hydra/launcher=ray: cannot be loaded")
    assert "Could not find 'hydra/launcher/ray'" in err[0]
    assert not out.exists()


def test_the_default_launcher_and_the_sweeper_load():
    from regstudy.cli.study import load
    from regstudy.study.plugins import planned, plugin_error

    study, base, _ = load(["experiment=psp_mnist"])
    assert "hydra/launcher=joblib" in planned(study, base)
    assert plugin_error(study, base) is None
