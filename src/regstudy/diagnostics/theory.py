"""Closed forms the probe checks its measurements against (pure functions, no torch).

Signal propagation through a plain ReLU layer z_l = W_l h_{l-1}, h = ReLU(z), zero biases,
weights i.i.d. with mean 0 and variance v (He et al. 2015): if z_{l-1} is symmetric about 0
with variance q_{l-1}, then E[h^2] = q_{l-1} / 2 and

    q_l = Var[z_l] = fan_in * v * E[h_{l-1}^2] = (fan_in * v / 2) * q_{l-1}.

So each layer multiplies the pre-activation variance by r = fan_in * v / 2:
    kaiming_normal   v = 2 / fan_in                 r = 1      (constant with depth)
    lecun_normal     v = 1 / fan_in                 r = 1/2    (halves per layer)
    xavier_*         v = 2 / (fan_in + fan_out)     r = 1/2 for square layers
    uniform_fan_in   U[-a, a], a = 1/sqrt(fan_in):  v = a^2 / 3 = 1 / (3 fan_in),  r = 1/6
    default          PyTorch's kaiming_uniform_(a=sqrt(5)) for Linear/Conv2d has bound
                     sqrt(6 / ((1 + 5) fan_in)) = 1/sqrt(fan_in): the old Torch rule, r = 1/6.
The first layer sees the un-rectified input (E[x^2] = Var x = 1), so its factor is fan_in * v.

One ReLU unit of a standard-normal pre-activation, z ~ N(0, 1) (what h = ReLU(Wx) gives for
x ~ N(0, I) and W with orthonormal rows, since then Wx ~ N(0, I)):
    E[h] = phi(0) = 1/sqrt(2 pi),   E[h^2] = 1/2,   Var h = 1/2 - 1/(2 pi).
Inverted dropout h~ = m h / (1 - p), m ~ Bernoulli(1 - p) independent of h, keeps the mean and
scales the second moment by 1/(1 - p):
    E[h~] = E[h],   Var h~ = E[h^2] / (1 - p) - E[h]^2 = 1/(2(1 - p)) - 1/(2 pi),
and the number of kept units among M is Binomial(M, 1 - p).

Variance shift (Li et al. 2019, "Understanding the disharmony between dropout and batch
normalization"): batch norm after dropout estimates its running variance from the dropped
signal, Var_train = E[x^2] / (1 - p) - E[x]^2, but at test time dropout is off and the
variance is Var_eval = Var x; the normalized test-time output then has variance
Var_eval / Var_train < 1 instead of 1 (for a zero-mean input exactly 1 - p).
"""

from __future__ import annotations

import math

# PyTorch's default Linear/Conv init and the old Torch rule draw U[-1/sqrt(fan_in), +...].
UNIFORM_FAN_IN_SCHEMES = ("default", "uniform_fan_in")


def weight_variance(init: str, fan_in: int, fan_out: int) -> float:
    """Variance of one weight under an initialization scheme of regstudy.config.choices.INIT_SCHEMES."""
    if init == "kaiming_normal":
        return 2.0 / fan_in
    if init == "lecun_normal":
        return 1.0 / fan_in
    if init in ("xavier_normal", "xavier_uniform"):
        return 2.0 / (fan_in + fan_out)
    if init in UNIFORM_FAN_IN_SCHEMES:
        return 1.0 / (3.0 * fan_in)
    raise ValueError(f"no closed form for init={init!r}")


def relu_variance_factor(init: str, fan_in: int, fan_out: int) -> float:
    """Predicted Var[z_l] / Var[z_{l-1}] of a plain ReLU layer with zero biases."""
    return fan_in * weight_variance(init, fan_in, fan_out) / 2.0


def first_layer_factor(init: str, fan_in: int, fan_out: int) -> float:
    """Predicted Var[z_1] / Var[x] when the input is not rectified."""
    return fan_in * weight_variance(init, fan_in, fan_out)


RELU_MEAN = 1.0 / math.sqrt(2.0 * math.pi)      # E[ReLU(z)], z ~ N(0, 1)
RELU_SECOND_MOMENT = 0.5                         # E[ReLU(z)^2]
RELU_VAR = RELU_SECOND_MOMENT - RELU_MEAN ** 2   # 1/2 - 1/(2 pi)


def dropout_variance(mean: float, second_moment: float, p: float) -> float:
    """Var of m x / (1 - p), m ~ Bernoulli(1 - p): E[x^2] / (1 - p) - E[x]^2."""
    return second_moment / (1.0 - p) - mean ** 2


def kept_units_moments(units: int, p: float) -> tuple[float, float]:
    """Mean and variance of the number of units inverted dropout keeps: Binomial(units, 1 - p)."""
    return units * (1.0 - p), units * p * (1.0 - p)


def variance_shift(mean: float, second_moment: float, p: float) -> float:
    """Var_eval / Var_train of a batch norm that sees dropout(p) of x while training."""
    return (second_moment - mean ** 2) / dropout_variance(mean, second_moment, p)
