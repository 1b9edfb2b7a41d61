"""Bad search input fails before any trial: one line on stderr, exit 2, no trial directory.
Plus the parsing of Hydra's sweep syntax into Optuna distributions, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from regstudy.search.errors import SearchError
from regstudy.search.space import distribution, parse_space

from .conftest import REPO, real_data_root, run_cli
from .search_helpers import L2_SPACE, TRIAL, search

BAD = {
    "unparsable": (["+hydra.sweeper.params.reg.l2.strength='interval(1e-6'"], "cannot parse"),
    "log_low_zero": (["reg.l2.strength=tag(log, interval(0, 0.1))"], "low > 0"),
    "low_not_below_high": (["reg.l2.strength=interval(0.1, 0.01)"], "low < high"),
    "unknown_sampler": ([L2_SPACE, "hydra.sweeper.sampler=bayes"], "hydra.sweeper.sampler=bayes"),
    "unknown_pruner": ([L2_SPACE, "hydra.sweeper.pruner=early"], "hydra.sweeper.pruner=early"),
    "unknown_objective": ([L2_SPACE, "hydra.sweeper.objective=val_f1"], "val_f1"),
    "test_objective": ([L2_SPACE, "hydra.sweeper.objective=test_acc"], "never used to choose"),
    "unknown_key": (["reg.l2.strenght=interval(0.1, 0.2)"], "reg.l2.strenght"),
    "bad_storage_dialect": ([L2_SPACE, "hydra.sweeper.storage=nosuchdb://x/y"], "cannot open"),
    "storage_refused": ([L2_SPACE, "hydra.sweeper.storage=postgresql+psycopg2://u@127.0.0.1:1/x"],
                        "cannot open"),
    "grid_of_interval": ([L2_SPACE, "hydra.sweeper.sampler=grid"], "needs discrete values"),
    "bad_sampler_option": ([L2_SPACE, "+hydra.sweeper.sampler_options.n_startup=3"], "n_startup"),
    "no_validation_set": ([L2_SPACE, "dataset.val_size=0"], "needs a validation set"),
    # spaces Hydra's parser refuses on the command line, before the sweeper exists
    "empty_choice": (["reg.l2.strength=choice()"], "cannot parse 'reg.l2.strength=choice()'"),
    "open_interval": (["reg.l2.strength=interval(1,"], "cannot parse 'reg.l2.strength=interval(1,'"),
    # a sweep function that means nothing to a search
    "shuffle": (["reg.l2.strength=shuffle(range(1,3))"], "shuffle() is not supported"),
    "sort": (["reg.l2.strength=sort(0.1,0.01)"], "sort() is not supported"),
    # Hydra's own Optuna plugin's syntax: regstudy's key is named
    "plugin_sampler_group": ([L2_SPACE, "hydra/sweeper/sampler=tpe"], "hydra.sweeper.sampler=NAME"),
    "plugin_sampler_seed": ([L2_SPACE, "hydra.sweeper.sampler.seed=1"], "hydra.sweeper.seed=N"),
    "plugin_search_space": (["hydra.sweeper.search_space.reg.l2.strength=interval(0,1)"],
                            "hydra.sweeper.params.KEY=EXPR"),
    "unknown_schedule": ([L2_SPACE, "hydra.sweeper.schedule=async"], "choose one of slots, batch"),
    "failure_rate_above_one": ([L2_SPACE, "hydra.sweeper.max_failure_rate=2"],
                               "max_failure_rate=2.0"),
}


def bad_search(tmp_path, *args: str):
    sweep_dir = tmp_path / "bad"
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=l2", *TRIAL, *args,
                   f"hydra.sweep.dir={sweep_dir}"])
    return out, sweep_dir


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_before_any_trial(tmp_path, case):
    args, expected = BAD[case]
    out, sweep_dir = bad_search(tmp_path, *args)
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("regstudy train: error:"), out.stderr
    assert expected in lines[0]
    assert not any(p.is_dir() and p.name.isdigit() for p in sweep_dir.glob("*"))


@pytest.mark.slow
def test_study_with_another_space_is_refused(tmp_path):
    data_root = real_data_root("MNIST")
    if data_root is None:
        pytest.skip("real MNIST not found under REGSTUDY_DATA")
    first = search(tmp_path / "s", data_root, n_trials=1)
    assert first.returncode == 0, first.stderr[-2000:]
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", "reg=l2", *TRIAL,
                   "reg.l2.strength=tag(log, interval(1e-5, 1e-1))", "hydra.sweeper.n_trials=2",
                   f"hydra.sweep.dir={tmp_path / 's'}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 2
    line = out.stderr.strip().splitlines()[-1]
    assert "different search space: reg.l2.strength" in line
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.name.isdigit()) == ["0"]


def test_sweep_syntax_maps_to_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    space = parse_space(["a=tag(log, interval(1e-6, 1e-1))", "b=int(interval(1, 9))",
                         "c=choice(sgd, adam)", "d=0.1,0.3", "e=range(2, 11, 3)",
                         "f=interval(0.0, 0.5)", "g=range(0.1, 0.5, 0.1)", "reg=l2"])
    dists = {k: distribution(p) for k, p in space.params.items()}
    assert dists["a"] == FloatDistribution(1e-6, 1e-1, log=True)
    assert dists["b"] == IntDistribution(1, 9)
    assert dists["c"] == CategoricalDistribution(["sgd", "adam"])
    assert dists["d"] == CategoricalDistribution([0.1, 0.3])
    assert dists["e"] == IntDistribution(2, 8, step=3)         # stop excluded, as in Python
    assert dists["f"] == FloatDistribution(0.0, 0.5)
    assert (dists["g"].low, dists["g"].high, dists["g"].step) == (0.1, pytest.approx(0.4), 0.1)
    assert space.params["e"].grid_values() == [2, 5, 8]
    assert space.fixed == ["reg=l2"]
    # the last occurrence of a key wins: a value on the command line replaces a preset's space
    later = parse_space(["a=interval(0.1, 0.2)", "b=choice(1, 2)", "a=0.15", "b=1", "b=3,4"])
    assert later.fixed == ["a=0.15"] and list(later.params) == ["b"]
    assert distribution(later.params["b"]) == CategoricalDistribution([3, 4])
    with pytest.raises(SearchError, match="no search space"):
        parse_space(["reg=l2"])


def test_stepped_float_range_is_the_same_space_for_every_sampler(recwarn):
    """range(0, 1, 0.3) is 0, 0.3, 0.6, 0.9: Optuna keeps 0.9 for TPE and random (it trimmed a
    binary-float end point 0.8999999999999999 to 0.6, with a warning), grid offers the same
    four values, and a sampled 3 * 0.3 is recorded and passed on as 0.9."""
    import optuna

    from regstudy.search.algorithms import build_sampler
    from regstudy.search.space import as_override

    space = parse_space(["reg.dropout.p=range(0, 1, 0.3)"])
    param = space.params["reg.dropout.p"]
    assert param.grid_values() == [0.0, 0.3, 0.6, 0.9]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    seen = {}
    for name in ("tpe", "random", "grid", "qmc"):
        study = optuna.create_study(sampler=build_sampler(name, {}, 0, space))
        values = set()
        for _ in range(40 if name != "grid" else 4):
            trial = study.ask(space.distributions())
            values.add(space.clean(trial.params)["reg.dropout.p"])
            if name != "grid":   # the grid sampler asks to stop once its grid is used up
                study.tell(trial, 0.5)
        seen[name] = values
    assert all(v == {0.0, 0.3, 0.6, 0.9} for v in seen.values()), seen
    assert not [w for w in recwarn if "high" in str(w.message)]   # Optuna trimmed nothing
    assert as_override("reg.dropout.p", param.clean(3 * 0.3)) == "reg.dropout.p=0.9"
    assert parse_space(["x=range(0.1, 0.5, 0.1)"]).params["x"].grid_values() == [0.1, 0.2, 0.3, 0.4]


@pytest.mark.parametrize("text", ["ends\\", "it's", "a\\'b", "two\\\\", "'", "\\", "a=b,c",
                                  "é ü [x]"])
def test_any_string_survives_a_trial_override(text):
    """A sampled string goes into the trial's override quoted so Hydra parses it back intact
    (a value ending in a backslash broke the override: LexerNoViableAltException)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from regstudy.search.space import as_override

    assert OverridesParser.create().parse_override(as_override("name", text)).value() == text


def test_cli_startup_does_not_import_optuna():
    code = ("import sys\nfrom regstudy.cli import main\n"
            "for argv in (['--help'], ['train', '--cfg', 'job', 'hydra/sweeper=optuna']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('optuna' in sys.modules, 'torch' in sys.modules, file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.stderr.strip().splitlines()[-1] == "False False", out.stderr[-2000:]
