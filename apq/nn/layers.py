"""Quantizer hook slots and the static layers that carry them.

Every conv or linear a sub-net may quantize has two optional hooks, ``weight_quant`` and
``input_quant`` (``None`` = fp32). A hook is any module mapping a tensor to a tensor of the same
shape; ``forward`` applies it to the weight and to the layer's input activation, so fake
quantization (:mod:`apq.quant`) is added by setting the slots, without touching these classes.
The supernet's dynamic layers (:mod:`apq.supernet.layers`) carry the same slots.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def apply_hook(hook: nn.Module | None, tensor: torch.Tensor) -> torch.Tensor:
    """``hook(tensor)``, or ``tensor`` itself when the slot is empty."""
    return tensor if hook is None else hook(tensor)


class QuantHooks:
    """Mixin: the ``weight_quant`` / ``input_quant`` slots (plain ``None`` until a module is set)."""

    def _init_hooks(self) -> None:
        self.weight_quant: nn.Module | None = None
        self.input_quant: nn.Module | None = None


class HookedConv2d(nn.Conv2d, QuantHooks):
    """``nn.Conv2d`` (same parameters and state dict) with the two quantizer hooks."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_hooks()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = apply_hook(self.weight_quant, self.weight)
        return self._conv_forward(apply_hook(self.input_quant, x), weight, self.bias)


class HookedLinear(nn.Linear, QuantHooks):
    """``nn.Linear`` (same parameters and state dict) with the two quantizer hooks, so the
    classifier can be quantized too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_hooks()

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "HookedLinear":
        """A hooked copy of ``linear`` (same weights, device and dtype)."""
        out = cls(linear.in_features, linear.out_features, linear.bias is not None,
                  device=linear.weight.device, dtype=linear.weight.dtype)
        out.load_state_dict(linear.state_dict())
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = apply_hook(self.weight_quant, self.weight)
        return F.linear(apply_hook(self.input_quant, x), weight, self.bias)
