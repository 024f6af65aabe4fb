"""Shared torch building blocks, below every stage that trains or runs a network.

- :mod:`apq.nn.layers`: the quantizer hook slots and the hooked static conv and linear layers.
- :mod:`apq.nn.training`: the learning-rate schedule, the distillation loss, weight-decay groups.
- :mod:`apq.nn.runtime`: the device and the torch thread count a run uses, and the usable CPUs.
"""
