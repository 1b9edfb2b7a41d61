"""One registry style for every kind the config names by a string: a name registered twice is
refused (it used to replace the first silently), an unknown name fails naming the key."""

from __future__ import annotations

import pytest

from regstudy.registry import Registry


def _first(*args):
    return "first"


def _second(*args):
    return "second"


def test_a_name_registered_twice_is_refused_and_the_first_kept():
    reg: Registry = Registry("optimizer", "optim.name")
    reg.register("sgd")(_first)
    with pytest.raises(ValueError, match=r"optimizer 'sgd' is registered twice: by .*_first and "
                                         r"by .*_second"):
        reg.register("sgd")(_second)
    assert reg.get("sgd") is _first and reg.names() == ("sgd",)


def test_an_unknown_name_names_the_key_and_the_choices():
    reg: Registry = Registry("schedule", "sched.name")
    reg.register("none")(_first)
    reg.register("cosine")(_second)
    with pytest.raises(ValueError, match=r"^sched.name='cosin' is not one of: none, cosine$"):
        reg.get("cosin")


@pytest.mark.parametrize("where,register,name", [
    ("regstudy.models", "register_model", "lenet5"),
    ("regstudy.regularizers", "register_regularizer", "l2"),
    ("regstudy.training.optim", "register_optimizer", "sgd"),
    ("regstudy.training.optim", "register_schedule", "cosine"),
    ("regstudy.search.algorithms", "register_sampler", "tpe"),
    ("regstudy.search.algorithms", "register_pruner", "median"),
])
def test_every_registry_refuses_a_name_it_holds(where, register, name):
    import importlib

    class Impostor:
        pass

    with pytest.raises(ValueError, match=f"'{name}' is registered twice"):
        getattr(importlib.import_module(where), register)(name)(Impostor)
    assert getattr(Impostor, "name", None) != name   # a refused regularizer class is untouched
