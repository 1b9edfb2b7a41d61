"""Holm's adjustment against statsmodels, Hedges' g and the Welch interval of a difference
against direct computations, and the new columns of `regstudy table`."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import gamma

from regstudy.report import stats
from regstudy.report.runs import load_runs
from regstudy.report.table import display_frame, parse_baseline, summarize

from .test_table import write_run


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_statsmodels(seed):
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=rng.integers(1, 9))
    p[rng.integers(len(p))] = p[0]     # ties
    expected = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(stats.holm(p), expected, rtol=1e-12)


def test_holm_leaves_nan_out_of_the_family():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    got = stats.holm([0.01, math.nan, 0.04, 0.03])
    assert math.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="holm")[1])


@pytest.mark.parametrize("seed", range(4))
def test_hedges_g_and_welch_interval_equal_direct_computations(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0.1, 0.02, size=rng.integers(2, 7))
    b = rng.normal(0.12, 0.03, size=rng.integers(2, 7))
    n1, n2 = len(a), len(b)
    s_pooled = math.sqrt(((n1 - 1) * a.var(ddof=1) + (n2 - 1) * b.var(ddof=1)) / (n1 + n2 - 2))
    df = n1 + n2 - 2
    j = gamma(df / 2) / (math.sqrt(df / 2) * gamma((df - 1) / 2))
    assert stats.hedges_g(a, b) == pytest.approx(j * (a.mean() - b.mean()) / s_pooled)
    d = stats.difference(a, b)
    welch = sps.ttest_ind(a, b, equal_var=False)
    lo, hi = welch.confidence_interval(0.95)
    assert (d.diff, d.low, d.high) == pytest.approx((a.mean() - b.mean(), lo, hi))
    assert stats.welch_p(a, b) == pytest.approx(welch.pvalue)


def test_hedges_g_and_interval_are_nan_with_one_seed():
    d = stats.difference([0.1], [0.2, 0.3])
    assert d.diff == pytest.approx(-0.15)
    assert math.isnan(d.low) and math.isnan(d.high) and math.isnan(d.hedges_g)


def test_table_adjusts_over_every_arm_and_says_when_there_is_no_interval(tmp_path):
    arms = {"none": [0.10, 0.11, 0.12], "l2": [0.08, 0.085, 0.09], "dropout": [0.095, 0.1, 0.11],
            "psp": [0.07]}
    job = 0
    for reg, errors in arms.items():
        for seed, err in enumerate(errors):
            write_run(tmp_path / str(job), [f"reg={reg}", f"seed={seed}"], test_error=err)
            job += 1
    table = summarize(load_runs([tmp_path]), "test_error", parse_baseline("reg=none"))
    g = table.groups.set_index("reg")
    raw = [stats.welch_p(arms[r], arms["none"]) for r in ("l2", "dropout")]
    assert math.isnan(g.loc["psp", "p_value"])       # one seed: no test, not in the family
    np.testing.assert_allclose(g.loc[["l2", "dropout"], "p_holm"], stats.holm(raw))
    assert g.loc["l2", "p_holm"] > g.loc["l2", "p_value"]
    shown = display_frame(table).set_index("reg")
    assert shown.loc["psp", "95% CI"] == "no interval: 1 seed"
    assert shown.loc["psp", "diff 95% CI (Welch)"] == "no interval: 1 seed"
    assert shown.loc["l2", "Hedges' g"] == f"{stats.hedges_g(arms['l2'], arms['none']):+.2f}"
