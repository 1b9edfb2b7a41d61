"""`regstudy probe`: measurements at initialization against their closed forms.

Tolerance: every measured quantity must lie within 4 standard errors of its closed form (the
standard error is estimated from the same sample: spread over i.i.d. values, units or layers).
The sizes are chosen so that those errors are small against the differences the checks are
about: the per-layer variance factors 1, 1/2 and 1/6 are 10+ standard errors apart, and
4 SE on Var(h~) is under 1.5% of its value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from regstudy.cli.probe import main as probe_main
from regstudy.diagnostics import theory
from regstudy.diagnostics.probe import (
    dropout_check,
    init_check,
    layer_table,
    plain_relu_mlp,
    variance_shift_check,
)

from .conftest import cli_in_process

Z_TOL = 4.0


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --- closed forms --------------------------------------------------------------------------------

def test_relu_moments_match_numerical_integration():
    mean = integrate.quad(lambda z: z * stats.norm.pdf(z), 0, np.inf)[0]
    second = integrate.quad(lambda z: z * z * stats.norm.pdf(z), 0, np.inf)[0]
    assert theory.RELU_MEAN == pytest.approx(mean, rel=1e-9)
    assert theory.RELU_SECOND_MOMENT == pytest.approx(second, rel=1e-9)
    assert theory.RELU_VAR == pytest.approx(0.5 - 1 / (2 * math.pi))


def test_init_factors_follow_from_weight_variance():
    assert theory.relu_variance_factor("kaiming_normal", 300, 300) == pytest.approx(1.0)
    assert theory.relu_variance_factor("lecun_normal", 300, 300) == pytest.approx(0.5)
    assert theory.relu_variance_factor("uniform_fan_in", 300, 300) == pytest.approx(1 / 6)
    # U[-a, a] has variance a^2 / 3, checked against scipy rather than restated
    a = 1 / math.sqrt(300)
    assert theory.weight_variance("uniform_fan_in", 300, 7) == pytest.approx(
        stats.uniform(-a, 2 * a).var())
    with pytest.raises(ValueError):
        theory.weight_variance("orthogonal", 3, 3)


def test_dropout_closed_forms():
    p = 0.3
    assert theory.dropout_variance(theory.RELU_MEAN, 0.5, p) == pytest.approx(
        1 / (2 * (1 - p)) - 1 / (2 * math.pi))
    assert theory.dropout_variance(1.0, 3.0, 0.0) == pytest.approx(2.0)   # p = 0: unchanged
    assert theory.kept_units_moments(512, p) == pytest.approx((stats.binom(512, 1 - p).mean(),
                                                               stats.binom(512, 1 - p).var()))
    assert theory.variance_shift(0.0, 1.0, p) == pytest.approx(1 - p)      # zero-mean input


# --- measurements against them ---------------------------------------------------------------------

def test_init_check_measures_predicted_per_layer_factor():
    check = init_check(width=256, depth=16, samples=256,
                       inits=["kaiming_normal", "lecun_normal", "uniform_fan_in", "default"],
                       gen=gen(0))
    summary = check.data["summary"].set_index("init")
    assert (summary["rel_std_error"] < 0.05).all()      # 1, 1/2, 1/6 are > 10 SE apart
    assert (summary["z"].abs() < Z_TOL).all(), summary
    assert summary.loc["kaiming_normal", "measured_geomean"] == pytest.approx(1.0, rel=0.1)
    assert summary.loc["lecun_normal", "measured_geomean"] == pytest.approx(0.5, rel=0.1)
    assert summary.loc["uniform_fan_in", "measured_geomean"] == pytest.approx(1 / 6, rel=0.1)
    assert summary.loc["default", "measured_geomean"] == pytest.approx(1 / 6, rel=0.1)
    first = summary["first_layer"] / summary["first_layer_predicted"]
    assert np.allclose(first, 1.0, rtol=0.1)
    assert check.table.shape == (16, 5)


def test_dropout_check_agrees_with_closed_forms():
    check = dropout_check(in_dim=256, units=128, samples=4000, p=0.3, gen=gen(0))
    table = check.table.set_index("quantity")
    assert (table["z"].abs() < Z_TOL).all(), table
    assert (table["std_error"] / table["closed_form"].abs() < 0.03).all()   # small errors
    assert table.loc["Var h~", "measured"] > table.loc["Var h", "measured"] * 1.5
    assert check.data["chi2_pvalue"] > 1e-3


def test_variance_shift_check_shows_the_shift():
    p = 0.5
    check = variance_shift_check(in_dim=256, units=128, samples=4000, p=p, batch_size=200,
                                 gen=gen(0))
    table = check.table.set_index("quantity")
    sampled = table.dropna(subset=["z"])
    assert len(sampled) == 3 and (sampled["z"].abs() < Z_TOL).all(), table
    assert table.loc["BN output variance, train", "measured"] == pytest.approx(1.0, abs=0.01)
    shifted = table.loc["BN output variance, eval (variance shift)", "measured"]
    assert shifted == pytest.approx(theory.variance_shift(theory.RELU_MEAN, 0.5, p), abs=0.01)
    assert shifted < 0.5


def test_layer_table_of_plain_kaiming_net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(plain_relu_mlp(128, 6, "kaiming_normal"), torch.nn.Linear(128, 10))
    x = torch.randn(512, 128)
    table = layer_table(net, [(x, torch.randint(0, 10, (512,)))])
    assert list(table["layer"]) == [f"0.{2 * i}" for i in range(6)] + ["1"]
    assert table["var_out"].iloc[:6].tolist() == pytest.approx(table["var_z"].iloc[:6].tolist())
    assert table["ratio_z"].iloc[1:6].tolist() == pytest.approx([1.0] * 5, rel=0.3)
    assert (table["var_act"].iloc[:6] / table["var_z"].iloc[:6]).tolist() == pytest.approx(
        [theory.RELU_VAR] * 6, rel=0.3)                  # Var ReLU(z) ~ (1/2 - 1/2pi) Var z
    assert (table["grad_abs_mean"] > 0).all()


# --- the command ----------------------------------------------------------------------------------

def test_probe_command_prints_tables_and_saves_figure(tmp_path):
    fig = tmp_path / "probe.png"
    res = cli_in_process(["probe", "model=lenet5", "model.init=kaiming_normal", "probe.input=gaussian",
                   "probe.batches=2", "probe.batch_size=32", "probe.checks=[model,dropout]",
                   "probe.in_dim=128", "probe.units=64", "probe.dropout_samples=500",
                   f"probe.figure={fig}"])
    assert res.returncode == 0, res.stderr[-3000:]
    assert "lenet5 at initialization (init=kaiming_normal" in res.stdout
    for name in ("features.1", "classifier.5", "var_z", "grad_abs_mean", "Var h~"):
        assert name in res.stdout
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("args, message", [
    (["probe.checks=[model,bogus]"], "probe.checks: 'bogus'"),
    (["probe.input=noise"], "probe.input='noise'"),
    (["probe.units=2048"], "probe.units=2048 must be <= probe.in_dim"),
    (["probe.widht=3"], "bad probe option"),
    (["model=nonexistent"], "model=nonexistent is not an option of model; choose one of:"),
    (["+trainer.epochz=3"], "trainer.epochz is not a key of trainer; allowed keys:"),
    (["model.variant=lecun98", "probe.input=gaussian"], "model.variant='lecun98' is not one of"),
])
def test_probe_command_rejects_bad_options(args, message, capsys):
    assert probe_main(args) == 2
    assert message in capsys.readouterr().err
