"""Paired comparisons, power, and the group-sequential rule of `study.final.seeds=auto`:
checked against scipy/statsmodels, by simulation of null studies, and on generated run records
(no training)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from regstudy.cli.study import load
from regstudy.report.compare import PAIRED, WELCH, compare, paired, welch
from regstudy.report.power import mde, seeds_needed
from regstudy.report.sequential import (
    BETTER,
    EQUIVALENT,
    OPEN,
    UNDECIDED,
    Plan,
    decide,
    nominal_levels,
    open_arms,
    simulate,
)
from regstudy.study.decisions import arm_values, final_decisions, judge_claims, look_arms

RNG = np.random.default_rng(7)


def test_paired_matches_scipy_ttest_rel_and_welch_matches_ttest_ind():
    a, b = RNG.normal(0.8, 0.1, 6), RNG.normal(0.7, 0.1, 6)
    arm, base = dict(zip(range(6), a)), dict(zip(range(6), b))
    c = paired(arm, base)
    ref = sps.ttest_rel(a, b)
    assert c.method == PAIRED and c.n == 6
    assert math.isclose(c.p, ref.pvalue, rel_tol=1e-9)
    lo, hi = c.interval(0.95)
    ci = ref.confidence_interval(0.95)
    assert math.isclose(lo, ci.low, rel_tol=1e-9) and math.isclose(hi, ci.high, rel_tol=1e-9)
    w = welch(arm, base)
    assert math.isclose(w.p, sps.ttest_ind(a, b, equal_var=False).pvalue, rel_tol=1e-9)
    assert compare(arm, base).method == PAIRED          # same seeds: paired
    assert compare(arm, {k + 10: v for k, v in base.items()}).method == WELCH


def test_pairing_removes_the_noise_a_seed_shares():
    shared = RNG.normal(0, 1.0, 8)                      # what a seed fixes in both arms
    arm = dict(enumerate(shared + 0.5 + RNG.normal(0, 0.1, 8)))
    base = dict(enumerate(shared + RNG.normal(0, 0.1, 8)))
    assert paired(arm, base).p < 1e-4 < welch(arm, base).p


def test_mde_matches_statsmodels_power_and_seeds_needed_is_the_first_n_that_detects():
    from statsmodels.stats.power import TTestPower

    d = RNG.normal(0.0, 1.0, 5)
    c = paired(dict(enumerate(d)), dict(enumerate(np.zeros(5))))
    effect = mde(c)
    sd = c.se * math.sqrt(5)
    power = TTestPower().power(effect_size=effect / sd, nobs=5, alpha=0.05)
    assert abs(power - 0.8) < 0.005
    n = seeds_needed(c, sesoi=sd * 0.5)
    assert TTestPower().power(0.5, n, 0.05) >= 0.8 > TTestPower().power(0.5, n - 1, 0.05)


@pytest.mark.parametrize("kind", ["obf", "pocock"])
def test_alpha_spending_boundaries_spend_what_the_function_says(kind):
    """Brownian motion observed at t = 0.375, 0.625, 1: the probability of first crossing at
    each look equals the spending function's increment (Monte Carlo, 400,000 paths)."""
    from regstudy.report.sequential import spent

    t = np.array([3, 5, 8]) / 8
    z_crit = sps.norm.isf(np.array(nominal_levels(tuple(t), 0.05, kind)) / 2)
    rng = np.random.default_rng(0)
    steps = rng.standard_normal((400_000, 3)) * np.sqrt(np.diff(np.r_[0, t]))
    z = np.cumsum(steps, axis=1) / np.sqrt(t)
    crossed = np.abs(z) >= z_crit
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    for k in range(3):
        want = spent(kind, t[k], 0.05) - (spent(kind, t[k - 1], 0.05) if k else 0.0)
        assert abs(np.mean(first == k) - want) < 4 * math.sqrt(want / 400_000) + 2e-4
    if kind == "pocock":   # Lan-DeMets Pocock-type, two looks at 0.5 and 1: z = 2.157, 2.201
        two = sps.norm.isf(np.array(nominal_levels((0.5, 1.0), 0.05, kind)) / 2)
        assert np.allclose(two, [2.157, 2.201], atol=2e-3)


def test_a_clear_effect_stops_at_the_first_look_and_a_tie_is_called_equivalent():
    plan = Plan((3, 5, 8), sesoi=0.5)
    base = {s: 1.0 + 0.01 * (s % 3) for s in range(8)}
    arms = {"strong": {s: v - 3.0 + 0.01 * s for s, v in base.items()},
            "same": {s: v + 0.001 * (-1) ** s for s, v in base.items()}}
    d = decide(plan, arms, base)
    assert d["strong"].decision == BETTER and d["strong"].look == 1
    assert d["same"].decision == EQUIVALENT
    assert not open_arms(d)


def test_a_null_arm_runs_to_max_seeds_and_ends_undecided():
    plan = Plan((3, 5, 8), sesoi=0.01)
    noise = np.random.default_rng(3).normal(0, 1, (2, 8))
    d = decide(plan, {"a": dict(enumerate(noise[0]))}, dict(enumerate(noise[1])))
    assert d["a"].decision == UNDECIDED and d["a"].look == 3
    assert [h["n"] for h in d["a"].history] == [3, 5, 8]
    early = decide(plan, {"a": dict(enumerate(noise[0][:5]))}, dict(enumerate(noise[1][:5])))
    assert early["a"].decision == OPEN and open_arms(early) == ["a"]


def test_quick_simulation_keeps_the_family_wise_rate():
    sim = simulate(Plan((3, 5, 8), sesoi=0.5), arms=3, studies=1000, seed=1)
    assert sim["fwer"] <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 1000)


@pytest.mark.slow
@pytest.mark.parametrize("arms", [3, 5])
def test_family_wise_false_positive_rate_by_simulation(arms):
    """10,000 null studies (normal noise, looks after 3, 5, 8 seeds): the rate of any false
    better/worse call is at most alpha within Monte-Carlo error; power for one noise sd."""
    plan = Plan((3, 5, 8), sesoi=0.5)
    null = simulate(plan, arms=arms, studies=10_000, seed=arms)
    se = math.sqrt(0.05 * 0.95 / 10_000)
    assert null["fwer"] <= 0.05 + 2 * se, null
    power = simulate(plan, arms=arms, studies=2_000, effect=1.0, seed=100 + arms)
    print(f"arms={arms}: family-wise rate {null['fwer']:.4f}, power at 1 sd {power['power']:.3f}")
    assert power["power"] > null["fwer"]


# --- the study's final stage on generated run records ---------------------------------------

def _record(root: Path, arm: str, seed: int, value: float, status: str = "completed") -> None:
    run = root / f"{arm}-{seed}"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({
        "status": status, "seed": seed, "overrides": [f"+arm={arm}", f"seed={seed}"],
        "test_error": value, "test_acc": 1 - value, "history": [{"zsq_val/mean": 10 * value}]}))


def _sequential_study(*extra):
    study, _, _ = load(["experiment=psp_mnist", "study.final.seeds=auto", "study.sesoi=0.1",
                        "study.only=[none,psp,weight_decay]", *extra])
    return study


def test_study_stops_early_on_a_clear_effect(tmp_path):
    study = _sequential_study()
    rng = np.random.default_rng(0)
    for s in study.seeds[:3]:
        noise = rng.normal(0, 0.0003)
        _record(tmp_path, "none", s, 0.0080 + noise)
        _record(tmp_path, "psp", s, 0.0040 + noise + rng.normal(0, 0.00005))
        _record(tmp_path, "weight_decay", s, 0.0080 + noise + rng.normal(0, 0.00005))
    decisions = final_decisions(study, arm_values([tmp_path], study.metric))
    assert decisions["psp"].decision == BETTER and decisions["psp"].look == 1
    assert decisions["weight_decay"].decision == EQUIVALENT
    assert look_arms(study, arm_values([tmp_path], study.metric), 3) == []


def test_study_runs_a_null_arm_to_max_seeds(tmp_path):
    study = _sequential_study()
    rng = np.random.default_rng(1)
    values = {}
    for s in study.seeds:
        for arm in ("none", "psp", "weight_decay"):
            values.setdefault(arm, {})[s] = 0.008 + rng.normal(0, 0.002)
    for n in (3, 5):
        assert sorted(look_arms(study, values, n)) == ["none", "psp", "weight_decay"]
    for arm, vs in values.items():
        for s, v in vs.items():
            _record(tmp_path, arm, s, v)
    _record(tmp_path, "psp", 5000, 0.5, status="diverged")    # never counted as a value
    decisions = final_decisions(study, arm_values([tmp_path], study.metric))
    assert {d.decision for d in decisions.values()} == {UNDECIDED}
    assert all(d.comparison.n == 8 for d in decisions.values())


def test_claims_are_judged_from_the_runs(tmp_path):
    study = _sequential_study(
        "+study.claims=[{claim: 'PSP beats none', arm: psp, than: [none]},"
        "{claim: 'PSP lowest z2', arm: psp, than: all, metric: zsq},"
        "{claim: 'dropout beats none', arm: dropout, than: [none]}]")
    rng = np.random.default_rng(2)
    for s in study.seeds[:5]:
        shared = rng.normal(0, 0.001)
        _record(tmp_path, "none", s, 0.008 + shared + rng.normal(0, 0.00002))
        _record(tmp_path, "psp", s, 0.004 + shared + rng.normal(0, 0.00002))
        _record(tmp_path, "weight_decay", s, 0.006 + shared + rng.normal(0, 0.00002))
    decisions = final_decisions(study, arm_values([tmp_path], study.metric))
    claims = {c["claim"]: c for c in judge_claims(study, [tmp_path], decisions)}
    assert claims["PSP beats none"]["verdict"] == "supported"
    assert claims["PSP beats none"]["comparisons"][0]["from"] == "final decision"
    assert [c["than"] for c in claims["PSP lowest z2"]["comparisons"]] == \
        ["none", "weight_decay", "dropout"]
    assert claims["PSP lowest z2"]["verdict"] == "not run"       # dropout was left out
    assert claims["dropout beats none"]["verdict"] == "not run"


def test_tensorboard_names_only_what_varies_between_the_sweep_jobs(tmp_path):
    from types import SimpleNamespace

    from hydra.types import RunMode

    from regstudy.cli.train import tb_run_name
    from regstudy.record.run_record import write_plan

    common = ["dataset.subset=2000", "trainer.epochs=2"]
    write_plan(tmp_path, [[*common, f"reg={r}", f"seed={s}"] for r in ("none", "l2")
                          for s in (0, 1)])
    hc = SimpleNamespace(mode=RunMode.MULTIRUN, sweep=SimpleNamespace(dir=str(tmp_path)),
                         job=SimpleNamespace(num=3),
                         overrides=SimpleNamespace(task=[*common, "reg=l2", "seed=1"]))
    assert tb_run_name(hc) == "reg=l2,seed=1"


def test_one_epoch_gets_a_readable_x_axis():
    from matplotlib.figure import Figure

    from regstudy.report.plots import epoch_axis

    ax = Figure().subplots()
    ax.plot([1], [0.5], "o")
    epoch_axis(ax)
    assert ax.get_xlim() == (0.5, 1.5)


def test_a_finished_run_stays_finished_when_only_the_study_declaration_changes(tmp_path):
    """A study's runs must survive new claims, a sesoi or a seeds=auto plan in the preset."""
    from regstudy.training.run import RunAborted, finished_record

    config = {"trainer": {"epochs": 2}, "study": {"final": {"seeds": 5}}}
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "completed",
                                                       "config": config}))
    changed = {"trainer": {"epochs": 2}, "study": {"final": {"seeds": "auto"}, "sesoi": 0.1}}
    assert finished_record(tmp_path, changed)["status"] == "completed"
    with pytest.raises(RunAborted, match="trainer.epochs: 2 -> 3"):
        finished_record(tmp_path, {"trainer": {"epochs": 3}, "study": {}})


def test_the_study_page_lists_decisions_and_claims(tmp_path):
    from regstudy.report.page import study_verdicts

    final = tmp_path / "final"
    for s in (1000, 1001):
        _record(final, "none", s, 0.01)
    (tmp_path / "study.json").write_text(json.dumps({
        "baseline": "none", "decisions": {"psp": {"decision": "better", "n": 8, "diff": -0.2}},
        "claims": [{"claim": "PSP beats none", "verdict": "supported", "arm": "psp",
                    "comparisons": [{"than": "none", "verdict": "supported", "mde_80": 0.1}]}]}))
    v = study_verdicts([final])
    assert v["decisions"]["psp"]["decision"] == "better" and v["claims"][0]["verdict"] == "supported"
    assert study_verdicts([tmp_path / "other" / "final"]) is None


def test_a_resumed_study_trains_each_look_as_first_planned():
    """Killed during look 3 with looks 1-2 and part of look 3 on disk: the arms each look
    trains are judged from the earlier looks only, so an arm decided at look 2 is still in
    look 2 (its runs kept) and out of look 3, whatever look 3 has written so far."""
    study = _sequential_study()
    rng = np.random.default_rng(5)
    values: dict = {}
    for s in study.seeds[:6]:                     # looks 1 and 2, and one seed of look 3
        noise = rng.normal(0, 0.0003)
        values.setdefault("none", {})[s] = 0.0080 + noise
        values.setdefault("psp", {})[s] = 0.0080 + noise + rng.normal(0, 0.0020)
        values.setdefault("weight_decay", {})[s] = 0.0080 + noise + rng.normal(0, 0.00005)
    values["weight_decay"][study.seeds[2]] += 0.0005     # not equivalent at look 1 yet
    at_look2 = final_decisions(study, {a: {s: v for s, v in vs.items() if s in study.seeds[:5]}
                                       for a, vs in values.items()})
    assert at_look2["weight_decay"].decision == EQUIVALENT and at_look2["weight_decay"].look == 2
    assert at_look2["psp"].decision == OPEN
    assert sorted(look_arms(study, values, 0)) == ["none", "psp", "weight_decay"]
    assert sorted(look_arms(study, values, 3)) == ["none", "psp", "weight_decay"]
    assert look_arms(study, values, 5) == ["none", "psp"]
