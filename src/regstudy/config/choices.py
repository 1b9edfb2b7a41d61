"""Allowed values of every enumerated setting: the one table.

validate.py checks configs against it (one clear line naming the key and these values), and the
code that implements the choices is keyed by the same names: models.layers (activations, inits,
norm placements), train.optim (optimizers, schedules), the regularizers (L2 modes, PSP
reductions). tests/test_config.py checks that every implementation table has exactly these keys.
Torch-free, so composing and validating a config stays light.
"""

from __future__ import annotations

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "scaled_tanh")
INITS = ("default", "lecun_normal", "xavier_uniform", "xavier_normal", "kaiming_normal",
         "uniform_fan_in")
NORMS = ("none", "bn_before_act", "bn_after_act")
DROPOUT_PLACES = ("fc", "conv", "input")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("none", "step", "cosine")
AMP = ("none", "bf16", "fp16")
PROGRESS = ("auto", "bar", "lines")
PSP_REDUCTIONS = ("layer_mean", "sum")
L2_MODES = ("penalty", "weight_decay")
