"""Allowed values of every enumerated setting: the one table.

validate.py checks configs against it (one clear line naming the key and these values). Where
the implementation can be stated without torch it is here and the names derive from it (the
initialization schemes); elsewhere the code is keyed by the same names (models.layers:
activations, norm placements; train.optim's registries: optimizers, schedules; the regularizers:
L2 modes, PSP reductions) and tests/test_config.py checks they agree. Torch-free, so composing
and validating a config stays light.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

ACTIVATIONS = ("relu", "leaky_relu", "elu", "tanh", "sigmoid", "scaled_tanh")
# Weight initialization (model.init): the torch.nn.init function and its arguments that
# models.layers.initialize applies to every conv and linear weight (biases to zero); None keeps
# PyTorch's own default. LeCun normal is N(0, 1/fan_in): Kaiming's with gain 1; the uniform
# U[-1/sqrt(fan_in), 1/sqrt(fan_in)] is Kaiming's uniform with a = sqrt(5) (gain^2 = 1/3),
# PyTorch's own default for conv and linear weights.
INIT_SCHEMES: Dict[str, Optional[Tuple[str, Dict[str, Any]]]] = {
    "default": None,
    "lecun_normal": ("kaiming_normal_", {"nonlinearity": "linear"}),
    "xavier_uniform": ("xavier_uniform_", {}),
    "xavier_normal": ("xavier_normal_", {}),
    "kaiming_normal": ("kaiming_normal_", {"nonlinearity": "relu"}),
    "uniform_fan_in": ("kaiming_uniform_", {"a": math.sqrt(5)}),
}
INITS = tuple(INIT_SCHEMES)
NORMS = ("none", "bn_before_act", "bn_after_act")
DROPOUT_PLACES = ("fc", "conv", "input")
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta")
SCHEDULES = ("none", "step", "cosine")
AMP = ("none", "bf16", "fp16")
PROGRESS = ("auto", "bar", "lines")
PSP_REDUCTIONS = ("layer_mean", "sum")
L2_MODES = ("penalty", "weight_decay")
