"""PSP regularization and the <z^2> statistics: closed-form and finite-difference gradients,
the two normalizations, site selection, strength 0 as a no-op, and the record of every run."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torch.func import functional_call

from regstudy.config.schema import PSPConfig
from regstudy.data.batches import DeviceSplit, Normalizer
from regstudy.data.decode import Split
from regstudy.diagnostics.zsq import ZSquared, unique_names
from regstudy.models import build_model, site_names
from regstudy.models.layers import make_activation
from regstudy.models.sites import LogitSite, record_sites
from regstudy.regularizers import build_regularizers
from regstudy.regularizers.psp import PSP
from regstudy.training.evaluate import evaluate

from .conftest import TINY, cli_in_process, read_metrics, real_data_root

LAMBDA = 0.3


def psp(**kw) -> PSP:
    return PSP(OmegaConf.structured(PSPConfig(**{"strength": LAMBDA, **kw})))


def penalty(model: nn.Module, reg: PSP, x: torch.Tensor,
            params: Dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """The PSP term of one forward pass (with `params` substituted, for gradcheck)."""
    with record_sites(model) as rec:
        functional_call(model, params or dict(model.named_parameters()), (x,))
    return reg.penalty(model, rec)


def one_layer() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), LogitSite()).double()


def two_layer(act: str = "tanh") -> nn.Sequential:
    """Linear 4->6, activation site, linear 6->6, logit site: two penalised sites of 6 units."""
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 6), make_activation(act), nn.Linear(6, 6),
                         LogitSite()).double()


def grads(model: nn.Module, term: torch.Tensor) -> Dict[str, torch.Tensor]:
    """Gradient of `term` per parameter; zeros where none reached it."""
    model.zero_grad(set_to_none=True)
    term.backward()
    return {n: torch.zeros_like(p) if p.grad is None else p.grad.clone()
            for n, p in model.named_parameters()}


# --- gradients ---------------------------------------------------------------------------------

def test_sum_reduction_gradient_is_the_closed_form_on_one_linear_layer():
    model = one_layer()
    y = torch.randn(5, 4, dtype=torch.float64)
    z = model(y).detach()
    g = grads(model, penalty(model, psp(reduction="sum"), y))
    # R = 1/2 sum_k z_k^2 per sample, averaged: dR/db_k = z_k, dR/dw_kj = z_k y_j, batch-averaged.
    assert torch.allclose(g["0.bias"], LAMBDA * z.mean(0))
    assert torch.allclose(g["0.weight"], LAMBDA * z.T @ y / y.shape[0])


def test_layer_mean_gradient_is_the_closed_form_scaled_by_two_over_units():
    model = one_layer()
    y = torch.randn(5, 4, dtype=torch.float64)
    z = model(y).detach()
    g = grads(model, penalty(model, psp(reduction="layer_mean"), y))
    # R = (1/L) mean over batch and k of z^2 with L = 1: the sum gradient times 2 / units.
    units = z.shape[1]
    assert torch.allclose(g["0.bias"], LAMBDA * 2 / units * z.mean(0))
    assert torch.allclose(g["0.weight"], LAMBDA * 2 / units * z.T @ y / y.shape[0])


@pytest.mark.parametrize("reduction", ["sum", "layer_mean"])
def test_first_layer_gradient_matches_finite_differences(reduction):
    model = two_layer()
    reg = psp(reduction=reduction)
    x = torch.randn(3, 4, dtype=torch.float64)
    base = {n: p.detach() for n, p in model.named_parameters()}

    def of_first_layer(w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return penalty(model, reg, x, {**base, "0.weight": w, "0.bias": b})

    w0 = base["0.weight"].clone().requires_grad_()
    b0 = base["0.bias"].clone().requires_grad_()
    assert torch.autograd.gradcheck(of_first_layer, (w0, b0), eps=1e-6, atol=1e-7)


def test_first_layer_gradient_carries_the_second_layers_term():
    model = two_layer()
    x = torch.randn(3, 4, dtype=torch.float64)
    first, logits = "1", "3"            # site names are module paths in the Sequential
    g_all = grads(model, penalty(model, psp(reduction="sum"), x))
    g_first = grads(model, penalty(model, psp(reduction="sum", sites=[first]), x))
    g_second = grads(model, penalty(model, psp(reduction="sum", sites=[logits]), x))
    # The logits' term reaches the first layer through backpropagation (weight decay would not).
    assert g_second["0.weight"].abs().max() > 1e-3
    assert torch.allclose(g_all["0.weight"], g_first["0.weight"] + g_second["0.weight"])
    # The first site's term cannot reach the second layer, which comes after it.
    assert torch.count_nonzero(g_first["2.weight"]) == 0


# --- normalizations and site selection -----------------------------------------------------------

def test_sum_and_layer_mean_differ_by_the_predicted_factor():
    model = two_layer()
    x = torch.randn(7, 4, dtype=torch.float64)
    s = penalty(model, psp(reduction="sum"), x)
    m = penalty(model, psp(reduction="layer_mean"), x)
    # sum = lambda/(2B) sum_l ||z_l||^2; layer_mean = lambda/(L B n) sum_l ||z_l||^2 with
    # L = 2 sites of n = 6 units each: sum / layer_mean = L n / 2 = 6.
    assert s.item() == pytest.approx(6 * m.item(), rel=1e-12)


def test_penalty_values_follow_the_two_formulas():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), make_activation("relu"), nn.Flatten(),
                          nn.Linear(3 * 4 * 4, 5), LogitSite()).double()
    x = torch.randn(4, 1, 6, 6, dtype=torch.float64)
    with record_sites(model) as rec:
        model(x)
    z1, z2 = rec.tensors
    assert z1.shape == (4, 3, 4, 4) and z2.shape == (4, 5)
    expected_sum = LAMBDA * 0.5 * (z1.pow(2).sum() + z2.pow(2).sum()) / 4
    expected_mean = LAMBDA / 2 * (z1.pow(2).mean() + z2.pow(2).mean())
    assert penalty(model, psp(reduction="sum"), x).item() == pytest.approx(expected_sum.item())
    assert penalty(model, psp(reduction="layer_mean"), x).item() == \
        pytest.approx(expected_mean.item())


def test_logits_are_penalised_only_when_configured():
    model = two_layer()
    x = torch.randn(3, 4, dtype=torch.float64)
    with record_sites(model) as rec:
        model(x)
    z_act = rec.tensors[0]
    without = penalty(model, psp(reduction="layer_mean", include_logits=False), x)
    assert without.item() == pytest.approx(LAMBDA * z_act.pow(2).mean().item())
    g_without = grads(model, penalty(model, psp(include_logits=False), x))
    g_with = grads(model, penalty(model, psp(include_logits=True), x))
    assert torch.count_nonzero(g_without["2.bias"]) == 0   # the output bias only moves the logits
    assert torch.count_nonzero(g_with["2.bias"]) == 6


def test_unknown_or_contradictory_sites_are_refused_with_the_choices():
    model = two_layer()
    x = torch.randn(2, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"not sites of this model.*\['1', '3'\]"):
        penalty(model, psp(sites=["classifier.9"]), x)
    with pytest.raises(ValueError, match="include_logits=false"):
        penalty(model, psp(sites=["3"], include_logits=False), x)


def test_psp_is_built_from_config_and_asks_for_sites():
    cfg = OmegaConf.create({"psp": {"strength": 1e-3, "reduction": "sum",
                                    "include_logits": True, "sites": []}, "l2": None})
    (reg,) = build_regularizers(cfg)
    assert isinstance(reg, PSP) and reg.needs_sites


# --- <z^2> statistics ----------------------------------------------------------------------------

def test_unique_names_number_repeated_sites():
    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a#2", "a#3"]


def test_zsq_is_the_sample_weighted_mean_over_recorded_batches_and_the_validation_pass():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5), make_activation("relu"),
                          nn.Linear(5, 3), LogitSite())
    obs = ZSquared(model, every_n_steps=2)
    assert [obs.wants_sites(s) for s in (1, 2, 3, 4)] == [False, True, False, True]
    batches = [torch.randn(n, 1, 4, 4) for n in (6, 6, 2)]
    for step, xb in enumerate(batches, start=1):
        with record_sites(model, obs.wants_sites(step)) as rec:
            model(xb)
        obs.after_backward(step, model, rec)
    images = torch.randint(0, 256, (25, 1, 4, 4), dtype=torch.uint8)
    split = DeviceSplit(Split(images, torch.zeros(25, dtype=torch.int64)), torch.device("cpu"),
                        Normalizer.create([0.5], [0.25], "cpu"))
    evaluate(model, split, batch_size=10, observers=[obs], split_name="val")
    row = obs.epoch_summary(1, 3)

    with torch.no_grad(), record_sites(model) as rec:
        model(batches[1])                  # only step 2 was recorded
        model(split.normalizer(images))
    tr_act, tr_logit, va_act, va_logit = [z.pow(2).mean().item() for z in rec.tensors]
    assert row["zsq/2"] == pytest.approx(tr_act) and row["zsq/4"] == pytest.approx(tr_logit)
    assert row["zsq/mean"] == pytest.approx((tr_act + tr_logit) / 2)
    assert row["zsq_val/2"] == pytest.approx(va_act, rel=1e-5)   # 3 batches of 10, 10, 5
    assert row["zsq_val/mean"] == pytest.approx((va_act + va_logit) / 2, rel=1e-5)
    assert obs.epoch_summary(2, 3) == {}   # flushed: nothing recorded since


def test_evaluate_without_observers_records_nothing():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3), LogitSite())
    images = torch.randint(0, 256, (8, 1, 4, 4), dtype=torch.uint8)
    split = DeviceSplit(Split(images, torch.zeros(8, dtype=torch.int64)), torch.device("cpu"),
                        Normalizer.create([0.5], [0.25], "cpu"))
    obs = ZSquared(model, every_n_steps=1)
    evaluate(model, split, batch_size=4, observers=[obs], split_name="test")  # not its split
    assert obs.epoch_summary(1, 1) == {}


# --- whole runs ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def none_and_psp0_runs(tmp_path_factory):
    """The same tiny real-MNIST run with reg=none and with PSP at strength 0."""
    if real_data_root("MNIST") is None:
        pytest.skip("real MNIST not found: set REGSTUDY_DATA (CI exports ../shared/datasets)")
    base = tmp_path_factory.mktemp("psp0")
    dirs = {}
    for label, reg in (("none", ["reg=none"]), ("psp0", ["reg=psp", "reg.strength=0"])):
        dirs[label] = base / label
        res = cli_in_process(["train", *TINY, "trainer.epochs=2", "diag.enabled=false", *reg,
                       f"hydra.run.dir={dirs[label]}"])
        assert res.returncode == 0, res.stderr[-3000:]
    return dirs


def test_psp_with_strength_zero_is_no_regularization_bit_for_bit(none_and_psp0_runs):
    a, b = (read_metrics(none_and_psp0_runs[k]) for k in ("none", "psp0"))
    assert b["config"]["reg"]["psp"]["strength"] == 0.0 and a["config"]["reg"]["psp"] is None
    wa = torch.load(none_and_psp0_runs["none"] / "best_model.pt")
    wb = torch.load(none_and_psp0_runs["psp0"] / "best_model.pt")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    drop = ("epoch_seconds",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in a["history"]] == \
        [{k: v for k, v in r.items() if k not in drop} for r in b["history"]]
    assert a["test_acc"] == b["test_acc"] and a["test_loss"] == b["test_loss"]


def test_zsq_is_recorded_without_psp_in_history_and_tensorboard(none_and_psp0_runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = none_and_psp0_runs["none"]
    record = read_metrics(run)
    history = record["history"]
    model = build_model(OmegaConf.create(record["config"]["model"]), 1, 10, 28)
    sites = site_names(model)          # every activation input and the logits
    assert len(sites) == 5             # classic LeNet5: 4 activations + logits
    for row in history:
        per_site = [row[f"zsq/{s}"] for s in sites]
        assert row["zsq/mean"] == pytest.approx(sum(per_site) / len(sites))
        assert row["zsq_val/mean"] > 0
    acc = EventAccumulator(str(Path(run) / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"zsq/mean", "zsq_val/mean", *(f"zsq/{s}" for s in sites)} <= tags
    assert [e.step for e in acc.Scalars("zsq/mean")] == [1, 2]
    assert acc.Scalars("zsq_val/mean")[1].value == pytest.approx(history[1]["zsq_val/mean"])
