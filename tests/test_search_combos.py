"""A search over regularizer combinations, `reg=choice([none],[l2],[l2,dropout])`, with their
strengths: a conditional space (Optuna's define-by-run), so a strength whose regularizer is not
in the sampled combination is not sampled, and the report's best trial per combination."""

from __future__ import annotations

import json

import pytest

from regstudy.search.space import parse_space

from .conftest import run_cli
from .search_helpers import TRIAL, load_study, records

COMBOS = "reg=choice([none],[l2],[l2,dropout])"
STRENGTHS = ["reg.l2.strength=tag(log, interval(1e-6, 1e-1))", "reg.dropout.p=interval(0.1, 0.6)"]


def test_a_knob_is_sampled_only_with_its_regularizer():
    import optuna

    space = parse_space([COMBOS, *STRENGTHS])
    assert space.params["reg"].combinations and space.condition("reg.dropout.p") == ("reg", "dropout")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        space.suggest(trial)
        params = space.clean(trial.params)
        members = set(params["reg"])
        seen.add(tuple(params["reg"]))
        assert ("reg.l2.strength" in params) == ("l2" in members)
        assert ("reg.dropout.p" in params) == ("dropout" in members)
        study.tell(trial, 0.5)
    assert seen == {("none",), ("l2",), ("l2", "dropout")}
    assert [p[-1] for p in space.probes()] == ["reg=[none]", "reg.l2.strength=1e-06",
                                              "reg.dropout.p=0.1"]


@pytest.mark.slow
def test_combination_search_runs_each_combination_with_its_knobs(tmp_path, data_root):
    import optuna

    sweep_dir = tmp_path / "combo"
    sweep_dir.mkdir()
    storage = f"sqlite:///{sweep_dir / 'optuna.db'}"
    study = optuna.create_study(storage=storage, study_name="regstudy", direction="maximize")
    for combo in ("[none]", "[l2]", "[l2,dropout]"):
        study.enqueue_trial({"reg": combo})       # each combination once; knobs sampled
    out = run_cli(["train", "-m", "hydra/sweeper=optuna", *TRIAL, "trainer.epochs=1", COMBOS,
                   *STRENGTHS, "hydra.sweeper.sampler=random", "hydra.sweeper.n_trials=3",
                   f"hydra.sweep.dir={sweep_dir}"], env={"REGSTUDY_DATA": str(data_root)})
    assert out.returncode == 0, out.stderr[-3000:]
    trials = {t.number: t for t in load_study(storage).get_trials()}
    recs = records(sweep_dir)
    for n, trial in trials.items():
        reg = recs[n]["config"]["reg"]
        members = trial.params["reg"][1:-1].split(",")
        assert sorted(trial.params) == sorted(["reg"] + [k for k, m in (
            ("reg.l2.strength", "l2"), ("reg.dropout.p", "dropout")) if m in members])
        assert (reg["l2"] is not None) == ("l2" in members)
        assert (reg["dropout"] is not None) == ("dropout" in members)
        if "l2" in members:
            assert reg["l2"]["strength"] == pytest.approx(trial.params["reg.l2.strength"])
    summary = json.loads((sweep_dir / "search.json").read_text())
    assert sorted(t["params"]["reg"] for t in summary["trials"]) == [["l2"], ["l2", "dropout"],
                                                                   ["none"]]
    page = tmp_path / "r.html"
    assert run_cli(["report", str(sweep_dir), "--out", str(page)]).returncode == 0
    html = page.read_text()
    for combo in ("reg=[none]", "reg=[l2]", "reg=[l2,dropout]"):
        assert f"<code>{combo}</code>" in html
