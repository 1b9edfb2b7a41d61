"""Diagnostics: how gradients and activations look while training (observers written to
TensorBoard, metrics.json and grad_flow.png) and at initialization (`regstudy probe`)."""
