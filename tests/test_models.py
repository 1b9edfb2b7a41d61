"""The model zoo: shapes, trainability, published sizes, layouts and every architecture switch.

Models are built the way `regstudy train` builds them: compose the Hydra config with the
overrides a user would type, then `build_model` with the regularizers' architecture options.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import List, Tuple

import pytest
import torch
import torch.nn.functional as F
import yaml
from omegaconf import OmegaConf
from scipy import stats
from torch import nn

from regstudy.config.compose import compose
from regstudy.models import build_model, record_sites
from regstudy.models.layers import ScaledTanh
from regstudy.models.sites import ActSite, LogitSite
from regstudy.regularizers import build_regularizers
from regstudy.training.run import arch_options

from .cifar_files import write_cifar100
from .conftest import cli_in_process, read_metrics

torch.set_num_threads(1)

MODELS = ["vgg08", "vgg38", "resnet18", "mobilenetv2", "allcnnc"]
INPUTS = {"mnist": (1, 28, 10), "cifar100": (3, 32, 100)}   # channels, side, classes
NORM_REGS = {"none": ["model.norm=none"], "bn_before_act": ["reg=bn_before_relu"],
             "bn_after_act": ["reg=bn_after_relu"]}
# Small widths where the test is about wiring, not size (resnet18's 11M weights are slow to init).
SMALL = {"resnet18": ["model.width=8", "model.blocks_per_stage=1"]}


@cache
def _compose(overrides: Tuple[str, ...]):
    return compose(overrides)


def make(name: str, *overrides: str, in_channels: int = 3, classes: int = 10,
         side: int = 32) -> nn.Module:
    """Build `model=name` with `overrides`; plain `model.key=value` ones are set on a cached
    composition (composing costs ~0.15 s, and this file builds ~150 models)."""
    plain = [o for o in overrides if o.startswith("model.")]
    cfg = copy.deepcopy(_compose((f"model={name}", *(o for o in overrides if o not in plain))))
    for key, value in (o.split("=", 1) for o in plain):
        OmegaConf.update(cfg, key, yaml.safe_load(value))
    opts = arch_options(cfg.model, build_regularizers(cfg.reg))
    return build_model(cfg.model, in_channels, classes, side, opts)


def seq(model: nn.Module, kinds) -> List[nn.Module]:
    """The modules of the given kinds in registration (= forward, for these nets) order."""
    return [m for m in model.modules() if isinstance(m, kinds)]


def sgd_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    model.train()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    return loss.detach()


# --- every model on every input shape ---------------------------------------------------------

# vgg38 without BN cannot pass: its bottom layers' gradients (~1e-17) are below float32's
# resolution of their weights, so an SGD step leaves them unchanged. That is the effect the
# VGG study is about, tested in test_vgg38_without_bn_has_a_vanishing_gradient.
STEP_OVERRIDES = {"vgg38": NORM_REGS["bn_before_act"]}


@pytest.mark.parametrize("data", INPUTS)
@pytest.mark.parametrize("name", MODELS)
def test_output_shape_and_one_sgd_step_trains_every_parameter(name, data):
    torch.manual_seed(0)
    c, side, classes = INPUTS[data]
    model = make(name, *STEP_OVERRIDES.get(name, []), in_channels=c, classes=classes, side=side)
    x, y = torch.randn(2, c, side, side), torch.randint(0, classes, (2,))
    assert model(x).shape == (2, classes)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss = sgd_step(model, x, y)
    assert torch.isfinite(loss)
    no_grad = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert no_grad == [], f"parameters without gradient: {no_grad}"
    unchanged = [n for n, p in model.named_parameters() if torch.equal(p, before[n])]
    assert unchanged == [], f"parameters an SGD step left unchanged: {unchanged}"


@pytest.mark.parametrize("name,count", [("resnet18", 11_173_962), ("mobilenetv2", 2_296_922),
                                        ("allcnnc", 1_369_738)])
def test_published_parameter_counts_for_ten_classes(name, count):
    assert sum(p.numel() for p in make(name).parameters()) == count


@pytest.mark.parametrize("name,sites", [("vgg08", 7), ("vgg38", 37), ("resnet18", 17),
                                        ("mobilenetv2", 36), ("allcnnc", 9)])
def test_sites_expose_every_activation_input_then_the_logits(name, sites):
    model = make(name)
    with record_sites(model) as rec:
        logits = model(torch.randn(2, 3, 32, 32))
    assert len(rec.tensors) == sites + 1 == len(seq(model, (ActSite, LogitSite)))
    assert rec.tensors[-1] is logits


# --- VGG: the coursework layout ----------------------------------------------------------------

def vgg_tokens(model: nn.Module) -> str:
    """c/C conv without/with bias, B BN, A activation, P avg-pool, L linear."""
    def token(m: nn.Module) -> str:
        if isinstance(m, nn.Conv2d):
            return "C" if m.bias is not None else "c"
        return {nn.BatchNorm2d: "B", ActSite: "A", nn.AvgPool2d: "P", nn.Linear: "L"}[type(m)]
    return "".join(token(m) for m in seq(model, (nn.Conv2d, nn.BatchNorm2d, ActSite,
                                                 nn.AvgPool2d, nn.Linear)))


@pytest.mark.parametrize("norm", NORM_REGS)
@pytest.mark.parametrize("name,blocks,convs", [("vgg08", 0, 7), ("vgg38", 5, 37)])
def test_vgg_layout_and_bn_placement(name, blocks, convs, norm):
    tokens = vgg_tokens(make(name, *NORM_REGS[norm]))
    unit = {"none": "A", "bn_before_act": "BA", "bn_after_act": "AB"}[norm]   # after each conv
    processing = 2 * ("c" + unit)
    reduction = "C" + unit + "P" + "C" + unit
    assert tokens == "cBA" + 3 * (blocks * processing + reduction) + "L"
    assert tokens.lower().count("c") == convs
    assert tokens.count("B") == 1 + (convs - 1) * (norm != "none")


def test_vgg38_without_bn_has_a_vanishing_gradient():
    """At initialization the first conv's mean |gradient| is ~4e-14 of the classifier's without BN;
    BN before the activation, or the residual variant, keeps it within a few orders."""
    def bottom_to_top_ratio(*overrides: str) -> float:
        torch.manual_seed(0)
        model = make("vgg38", *overrides, classes=100)
        F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.randint(0, 100, (4,))).backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() and g.any() for g in grads)
        first_conv, classifier = seq(model, nn.Conv2d)[0], seq(model, nn.Linear)[-1]
        return (first_conv.weight.grad.abs().mean() / classifier.weight.grad.abs().mean()).item()

    assert bottom_to_top_ratio() < 1e-10
    assert bottom_to_top_ratio("reg=bn_before_relu") > 1e-3
    assert bottom_to_top_ratio("model.residual=true") > 1e-3


def test_vgg_residual_variant_skips_each_processing_block():
    from regstudy.models.residual import Residual

    model = make("vgg38", "model.residual=true")
    skips = seq(model, Residual)
    assert len(skips) == 15 and all(isinstance(r.shortcut, nn.Identity) for r in skips)
    for norm in NORM_REGS.values():   # same layers in the same order: only the skips are new
        plain, residual = make("vgg38", *norm), make("vgg38", "model.residual=true", *norm)
        assert vgg_tokens(residual) == vgg_tokens(plain)


# --- normalization placement in the other models ---------------------------------------------

@pytest.mark.parametrize("norm", NORM_REGS)
@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2", "allcnnc"])
def test_norm_placement(name, norm):
    model = make(name, *SMALL.get(name, []), *NORM_REGS[norm])
    order = seq(model, (nn.Conv2d, nn.BatchNorm2d, ActSite))
    bns = [i for i, m in enumerate(order) if isinstance(m, nn.BatchNorm2d)]
    convs = seq(model, nn.Conv2d)
    hidden_sites = len(seq(model, ActSite)) - (name == "allcnnc")   # not All-CNN-C's class conv
    if norm == "none":
        assert bns == []
    elif norm == "bn_before_act":   # the published form: BN right after every hidden conv
        assert all(isinstance(order[i - 1], nn.Conv2d) for i in bns)
        assert len(bns) == len(convs) - (name == "allcnnc")
    else:                           # BN right after every hidden activation, nowhere else
        assert all(isinstance(order[i - 1], ActSite) for i in bns)
        assert len(bns) == hidden_sites
    model(torch.randn(2, 3, 32, 32))


def test_resnet18_has_three_projection_shortcuts_with_bn():
    model = make("resnet18")
    projections = [m for m in seq(model, nn.Conv2d) if m.kernel_size == (1, 1)]
    assert [(p.in_channels, p.out_channels, p.stride) for p in projections] == \
        [(64, 128, (2, 2)), (128, 256, (2, 2)), (256, 512, (2, 2))]


# --- initialization and activation switches --------------------------------------------------

FAN_IN, FAN_OUT = 256 * 9, 512 * 9     # resnet18's layer4.0 first conv: 1.2M weights
UNIFORM_KURTOSIS, NORMAL_KURTOSIS = -1.2, 0.0
INIT_LAW = {   # variance, excess kurtosis
    # PyTorch's kaiming_uniform_(a=sqrt(5)) is U(+-1/sqrt(fan_in)), like the old Torch default.
    "default": (1 / (3 * FAN_IN), UNIFORM_KURTOSIS),
    "uniform_fan_in": (1 / (3 * FAN_IN), UNIFORM_KURTOSIS),
    "lecun_normal": (1 / FAN_IN, NORMAL_KURTOSIS),
    "xavier_uniform": (2 / (FAN_IN + FAN_OUT), UNIFORM_KURTOSIS),
    "xavier_normal": (2 / (FAN_IN + FAN_OUT), NORMAL_KURTOSIS),
    "kaiming_normal": (2 / FAN_IN, NORMAL_KURTOSIS),
}


@pytest.mark.parametrize("init", INIT_LAW)
def test_init_gives_the_stated_weight_variance(init):
    torch.manual_seed(0)
    model = make("resnet18", "model.blocks_per_stage=1", "model.norm=none", f"model.init={init}")
    w = model.layer4[0].branch[0].weight.detach().flatten().double()
    assert (w.numel(), model.layer4[0].branch[0].in_channels) == (FAN_IN * 512, 256)
    variance, kurtosis = INIT_LAW[init]
    # Relative standard error of a variance estimate from 1.2M draws is < 0.2%.
    assert w.var().item() == pytest.approx(variance, rel=0.01)
    assert stats.kurtosis(w.numpy()) == pytest.approx(kurtosis, abs=0.05)
    biases = [m.bias for m in seq(model, (nn.Conv2d, nn.Linear)) if m.bias is not None]
    assert biases and all((b == 0).all() for b in biases) == (init != "default")


ACTIVATION_TYPES = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "tanh": nn.Tanh,
                    "sigmoid": nn.Sigmoid, "scaled_tanh": ScaledTanh}


@pytest.mark.parametrize("activation", ACTIVATION_TYPES)
def test_selected_activation_is_used_at_every_site(activation):
    kind = ACTIVATION_TYPES[activation]
    for name in MODELS:
        model = make(name, *SMALL.get(name, []), f"model.activation={activation}",
                     "model.leaky_slope=0.2")
        sites = seq(model, ActSite)
        assert sites and all(type(s.act) is kind for s in sites), name
        others = [m for m in model.modules() if isinstance(m, tuple(ACTIVATION_TYPES.values()))]
        assert len(others) == len(sites), f"{name} has an activation outside a site"
        if activation == "leaky_relu":
            assert {s.act.negative_slope for s in sites} == {0.2}


def test_allcnnc_published_dropout_is_switchable():
    rates = lambda m: [d.p for d in seq(m, nn.Dropout)]   # noqa: E731
    assert rates(make("allcnnc")) == [0.2, 0.5, 0.5]
    assert rates(make("allcnnc", "model.dropout=0", "model.input_dropout=0")) == []
    added = rates(make("allcnnc", "reg=dropout", "reg.dropout.p=0.1", "reg.dropout.where=[fc]"))
    assert added == [0.2, 0.5, 0.5, 0.1]


@pytest.mark.parametrize("name", ["vgg08", "resnet18", "mobilenetv2"])
def test_dropout_placements(name):
    model = make(name, *SMALL.get(name, []), "reg=dropout", "reg.dropout.p=0.3",
                 "reg.dropout.where=[input,fc]")
    modules = list(model.modules())
    drops = seq(model, nn.Dropout)
    assert len(drops) == 2 and all(d.p == 0.3 for d in drops)
    first_conv, classifier = seq(model, nn.Conv2d)[0], seq(model, nn.Linear)[-1]
    assert modules.index(drops[0]) < modules.index(first_conv)
    assert modules.index(drops[1]) == modules.index(classifier) - 1
    conv_drop = make(name, *SMALL.get(name, []), "reg=dropout", "reg.dropout.where=[conv]")
    assert len(seq(conv_drop, nn.Dropout)) > 2


# --- end to end on CIFAR-format files -----------------------------------------------------------

@pytest.mark.parametrize("reg", ["none", "bn_after_relu"])
def test_vgg38_trains_on_cifar100_files_from_the_cli(reg, tmp_path):
    write_cifar100(tmp_path, n_train=36, n_test=16, seed=0)   # 16 train + 20 val
    run_dir = tmp_path / "run"
    res = cli_in_process(["train", "model=vgg38", "dataset=cifar100", f"reg={reg}",
                   f"dataset.root={tmp_path}", "dataset.verify_checksums=false",
                   "dataset.val_size=20", "trainer.epochs=1", "trainer.batch_size=16",
                   "trainer.device=cpu", f"hydra.run.dir={run_dir}"],
                  env={"OMP_NUM_THREADS": "1"})   # one thread: the test shares a busy machine
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = read_metrics(run_dir)
    assert metrics["status"] == "completed"
    assert metrics["config"]["model"]["name"] == "vgg38"
    assert metrics["num_params"] == sum(p.numel() for p in make("vgg38", f"reg={reg}",
                                                                classes=100).parameters())
