"""Config composition: every group option composes and validates; bad input fails clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from regstudy.config.compose import compose
from regstudy.config.validate import ConfigError, check, validate
from regstudy.paths import config_dir

from .conftest import cli_in_process, run_cli

GROUPS = ["model", "dataset", "reg", "optim", "sched", "trainer"]


def _compose(overrides):
    return compose(overrides)


def _options(group: str):
    return sorted(p.stem for p in (Path(config_dir()) / group).glob("*.yaml"))


@pytest.mark.parametrize("group,option",
                         [(g, o) for g in GROUPS for o in _options(g)])
def test_every_group_option_composes_and_validates(group, option):
    cfg = _compose([f"{group}={option}"])
    OmegaConf.resolve(cfg)
    assert validate(cfg) == [], f"{group}={option} composes into an invalid config"


def _leaves(node, prefix=""):
    """(dotted key, value) of every leaf of a plain nested dict."""
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_the_default_run_composes_to_the_schemas_defaults():
    """Defaults are stated once, in the schema: wherever the schema gives a key a default, the
    default run composes to that value (a group option of the default run that contradicts the
    schema, e.g. SGD's momentum or the schedule's name, shows here)."""
    from regstudy.config.schema import Config

    schema = dict(_leaves(OmegaConf.to_container(OmegaConf.structured(Config), resolve=False)))
    composed = dict(_leaves(OmegaConf.to_container(_compose([]), resolve=False)))
    both = [k for k, v in schema.items() if v != "???" and k in composed]
    assert len(both) > 50
    assert {k: (composed[k], schema[k]) for k in both if composed[k] != schema[k]} == {}


def test_regularizers_combine_as_a_list():
    cfg = _compose(["reg=[l2,dropout,bn_before_relu]", "reg.dropout.p=0.2"])
    assert cfg.reg.l2.strength == pytest.approx(1e-4)
    assert cfg.reg.dropout.p == pytest.approx(0.2)
    assert cfg.reg.bn.placement == "bn_before_act"
    assert cfg.reg.psp is None


def test_strength_shorthand_targets_the_single_owner():
    cfg = _compose(["reg=[l2,dropout]", "reg.strength=0.01", "reg.p=0.3"])
    check(cfg)
    assert cfg.reg.l2.strength == pytest.approx(0.01) and cfg.reg.dropout.p == pytest.approx(0.3)
    assert cfg.reg.strength is None


def test_strength_shorthand_without_owner_is_an_error():
    cfg = _compose(["reg=dropout", "reg.strength=0.01"])
    with pytest.raises(ConfigError, match=r"reg.strength=0.01 is ambiguous or unused"):
        check(cfg)


@pytest.mark.parametrize("override,message", [
    ("reg=l2 reg.l2.strength=-1", "reg.l2.strength=-1.0 must be >= 0"),
    ("reg=dropout reg.dropout.p=1.0", "reg.dropout.p=1.0 must be a probability in [0, 1)"),
    ("optim.lr=0", "optim.lr=0.0 must be > 0"),
    ("trainer.epochs=0", "trainer.epochs=0 must be > 0"),
    ("trainer.batch_size=-5", "trainer.batch_size=-5 must be > 0"),
    ("model.activation=swish", "model.activation='swish' is not allowed; choose one of: relu"),
    ("model.init=orthogonal", "model.init='orthogonal' is not allowed"),
    ("optim.name=lbfgs", "optim.name='lbfgs' is not allowed"),
    ("dataset.val_size=60000", "dataset.val_size=60000 must be smaller than the 60000"),
    ("trainer.amp=fp16 trainer.device=cpu", "trainer.amp=fp16 needs CUDA"),
])
def test_range_errors_name_the_key(override, message):
    cfg = _compose(override.split())
    errors = validate(cfg)
    assert any(message in e for e in errors), errors


def test_wrong_type_fails_at_composition():
    with pytest.raises(Exception, match="trainer.epochs"):
        _compose(["trainer.epochs=ten"])


def test_cli_unknown_model_lists_options(tmp_path):
    run_dir = tmp_path / "run"
    res = run_cli(["train", "model=nosuchmodel", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0, res.stderr
    assert "model=nosuchmodel is not an option of model; choose one of: allcnnc, lenet5" \
        in res.stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("args,message", [
    (["trainer.epochs=abc"], "trainer.epochs=abc: Value 'abc' of type 'str' could not be "
                             "converted to Integer"),
    (["trainer.epochz=3"], "trainer.epochz is not a key of trainer; allowed keys: amp,"),
    (["+trainer.epochz=3"], "trainer.epochz is not a key of trainer; allowed keys: amp,"),
    (["+foo=1"], "foo is not a key of the config; allowed keys: dataset, diag, model"),
    (["++reg.l2.strengthh=1"], "reg.l2.strengthh is not a key of reg.l2; allowed keys:"),
    (["reg=nosuch"], "reg=nosuch is not an option of reg; choose one of: bn_after_relu"),
    (["-m", "seed=0,1", "model=lenet5,nosuchmodel"], "model=nosuchmodel is not an option"),
    (["trainer.epochs=[1"], "trainer.epochs=[1': no viable alternative"),
])
def test_every_composition_error_is_one_line_exit_2(tmp_path, args, message):
    """Unknown options, wrong types and unknown keys (with + too) stop before anything runs."""
    res = cli_in_process(["train", *args, f"hydra.run.dir={tmp_path / 'run'}",
                          f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip().count("\n") == 0 and message in res.stderr, res.stderr
    assert res.stderr.startswith("regstudy train: error: ")
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "sweep").exists()   # a bad value late in a list: no job ran


def test_plus_key_is_refused_before_anything_is_written(tmp_path):
    res = run_cli(["train", "+foo=1", f"hydra.run.dir={tmp_path / 'run'}"])
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
    assert "foo is not a key of the config" in res.stderr
    assert not (tmp_path / "run").exists()


def test_hydra_full_error_shows_hydras_own_text(tmp_path):
    res = cli_in_process(["train", "model=nosuchmodel", f"hydra.run.dir={tmp_path / 'run'}"],
                         env={"HYDRA_FULL_ERROR": "1"})
    assert res.returncode == 1
    assert "Could not find 'model/nosuchmodel'" in res.stderr and "Traceback" in res.stderr


@pytest.mark.slow
def test_cli_negative_strength_exits_nonzero_and_leaves_no_run(tmp_path):
    run_dir = tmp_path / "run"
    # a real process, as a user runs it: exit status 2, one line, no traceback
    res = run_cli(["train", "reg=l2", "reg.strength=-1", f"hydra.run.dir={run_dir}"])
    assert res.returncode == 2
    assert "reg.l2.strength=-1.0 must be >= 0" in res.stderr
    assert "Traceback" not in res.stderr
    assert not run_dir.exists()


@pytest.mark.parametrize("overrides,message", [
    (["model=lenet5", "model.variant=lecun98"],
     "model.variant='lecun98' is not one of ['caffe', 'classic']"),
    (["reg=psp", "reg.psp.sites=[no_such_site]"], "reg.psp.sites has ['no_such_site']"),
])
def test_cli_settings_the_built_model_rejects_fail_before_training(tmp_path, mnist_root,
                                                                    overrides, message):
    """Errors only the built model can find are one clear line too, and leave no run behind."""
    run_dir = tmp_path / "run"
    res = cli_in_process(["train", *overrides, "dataset.subset=50", "dataset.test_subset=50",
                   f"hydra.run.dir={run_dir}"], env={"REGSTUDY_DATA": str(mnist_root)})
    assert res.returncode == 2, res.stderr[-2000:]
    assert message in res.stderr and "Traceback" not in res.stderr
    assert not run_dir.exists()


def test_cli_cuda_without_cuda_is_an_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    res = cli_in_process(["train", "trainer.device=cuda", f"hydra.run.dir={tmp_path / 'run'}"])
    assert res.returncode == 2 and "CUDA is not available" in res.stderr


def test_cfg_job_and_new_keys(tmp_path):
    """`+` adds keys only where the schema has open dictionaries (a study's search space)."""
    res = cli_in_process(["train", "--cfg", "job", "+study.space.optim.lr=[0.1,0.01]",
                          "model=lenet5_caffe"])
    assert res.returncode == 0, res.stderr
    cfg = OmegaConf.create(res.stdout)
    assert cfg.study.space.optim.lr == [0.1, 0.01] and cfg.model.variant == "caffe"
    res = cli_in_process(["train", "--cfg", "job", "+extra.note=hello"])
    assert res.returncode == 2 and "extra.note is not a key of the config" in res.stderr


def test_multirun_with_cfg_is_one_line_not_a_traceback():
    res = cli_in_process(["train", "-m", "seed=0,1", "--cfg", "hydra"])
    assert res.returncode == 2 and "Traceback" not in res.stderr + res.stdout
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert res.stderr.startswith("regstudy train: error: -m cannot be combined with --cfg")


def test_help_lists_groups():
    res = cli_in_process(["train", "--help"])
    assert res.returncode == 0
    groups = dict(line.split(": ", 1) for line in res.stdout.splitlines()
                  if line.split(":")[0] in GROUPS and ": " in line)
    assert "lenet5" in groups["model"].split(", ") and "l2" in groups["reg"].split(", ")
    assert "regstudy train" in res.stdout


def test_top_level_help_and_unknown_command():
    assert cli_in_process(["--help"]).returncode == 0
    res = cli_in_process(["frobnicate"])
    assert res.returncode == 2 and "unknown command" in res.stderr


def test_every_allowed_init_scheme_initializes():
    """model.init's allowed values are INIT_SCHEMES' names, and each names a torch.nn.init call
    that re-draws the weights (biases to zero); `default` leaves PyTorch's draw alone."""
    import torch

    from regstudy.config.choices import INITS
    from regstudy.models.layers import initialize

    for name in INITS:
        torch.manual_seed(0)
        layer = torch.nn.Linear(400, 100)
        before = layer.weight.detach().clone()
        initialize(layer, name)
        changed = not torch.equal(layer.weight, before)
        assert changed == (name != "default"), name
        assert changed <= bool((layer.bias == 0).all()), name
    with pytest.raises(ValueError, match="model.init='orthogonal' is not one of"):
        initialize(torch.nn.Linear(2, 2), "orthogonal")


def test_implementations_have_exactly_the_allowed_values():
    """config.choices is the one table: the code behind each choice is keyed by the same names."""
    import torch

    from regstudy.config import choices
    from regstudy.models import layers
    from regstudy.training.optim import (
        available_optimizers,
        available_schedules,
        build_optimizer,
        build_scheduler,
    )

    assert set(layers._activation_factories(0.01)) == set(choices.ACTIVATIONS)
    assert set(available_optimizers()) == set(choices.OPTIMIZERS)
    assert set(available_schedules()) == set(choices.SCHEDULES)
    model = torch.nn.Linear(3, 2)
    for name in choices.OPTIMIZERS:
        opt = build_optimizer(OmegaConf.merge(compose([]).optim, {"name": name}), model, [])
        assert type(opt).__name__.lower() == name
    for name in choices.SCHEDULES:
        build_scheduler(OmegaConf.merge(compose([]).sched, {"name": name}), opt, 3)
    with pytest.raises(ValueError, match="sgd"):
        build_optimizer(OmegaConf.merge(compose([]).optim, {"name": "lbfgs"}), model, [])


def test_plus_adds_a_group_from_a_searchpath_folder(tmp_path):
    """A study's final stage adds its `arm` group from its own config folder
    (`hydra.searchpath`, `+arm=...`): that group is Hydra's business, not a back door."""
    from regstudy.config.errors import added_key_problem

    (tmp_path / "arm").mkdir()
    (tmp_path / "arm" / "none.yaml").write_text("# @package _global_\n{}\n")
    searchpath = f"hydra.searchpath=[file://{tmp_path}]"
    assert added_key_problem(["-m", searchpath, "+arm=none,l2", "seed=0,1"]) is None
    assert "arm is not a key of the config" in added_key_problem(["-m", "+arm=none,l2"])
    assert "foo is not a key" in added_key_problem(["-m", searchpath, "+foo=1"])
