"""Simulated (fake) quantization modules with a straight-through estimator.

Both modules map a float tensor to a float tensor holding quantized values, so they slot into
the ``weight_quant`` / ``input_quant`` hooks of the supernet's convs. ``bits=None`` passes the
tensor through unchanged (fp32).

- :class:`WeightFakeQuant`: symmetric, per output channel (dim 0) by default, scale from the
  channel's max |w|: no state to learn, so it follows the weights during fine-tuning.
- :class:`ActFakeQuant`: a learnable step size (LSQ, Esser et al., ICLR 2020) initialised from a
  calibration pass (MSE-optimal clipping over observed activations); unsigned after ReLU6,
  signed where inputs can be negative.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round in the forward pass, identity gradient in the backward pass."""
    return x + (torch.round(x) - x).detach()


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """Integer grid ``(q_min, q_max)``: signed symmetric-with-extra-negative, or unsigned."""
    if signed:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


class WeightFakeQuant(nn.Module):
    """Symmetric weight quantizer; ``per_channel`` scales each output channel separately."""

    def __init__(self, bits: int | None, per_channel: bool = True):
        super().__init__()
        self.bits, self.per_channel = bits, per_channel

    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        """Step size, shape (C_out, 1, 1, ...) per channel or a scalar tensor."""
        q_max = 2 ** (self.bits - 1) - 1
        if self.per_channel:
            w_max = weight.detach().abs().flatten(1).amax(dim=1).view(-1, *([1] * (weight.dim() - 1)))
        else:
            w_max = weight.detach().abs().max()
        return w_max.clamp_min(1e-8) / q_max

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return weight
        q_max = 2 ** (self.bits - 1) - 1
        s = self.scale(weight)
        return torch.clamp(round_ste(weight / s), -q_max, q_max) * s

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}"


def _grad_scale(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Value of ``x`` with its gradient multiplied by ``factor`` (LSQ's step-size gradient scale)."""
    return (x - x * factor).detach() + x * factor


class ActFakeQuant(nn.Module):
    """Per-tensor activation quantizer with a learnable step size (LSQ).

    Call :meth:`observe` on calibration batches while ``calibrating`` is True, then
    :meth:`finish_calibration` to set the step from the observed values.
    """

    def __init__(self, bits: int | None, signed: bool = False, max_observed: int = 65536):
        super().__init__()
        self.bits, self.signed, self.max_observed = bits, signed, max_observed
        self.step = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("initialized", torch.tensor(False))
        self.calibrating = False
        self._observed: list[torch.Tensor] = []

    def observe(self, x: torch.Tensor) -> None:
        """Keep a random subsample of ``x`` (flattened) for calibration."""
        flat = x.detach().flatten().float()
        keep = min(flat.numel(), self.max_observed)
        self._observed.append(flat[torch.randint(flat.numel(), (keep,), device=flat.device)].cpu())

    def finish_calibration(self) -> None:
        """Set the step to the MSE-optimal clipping of the observed values over a grid."""
        if self.bits is None or not self._observed:
            return
        values = torch.cat(self._observed)
        self._observed = []
        q_min, q_max = int_range(self.bits, self.signed)
        top = values.abs().max().clamp_min(1e-8) if self.signed else values.max().clamp_min(1e-8)
        best, best_err = None, math.inf
        for fraction in torch.linspace(0.2, 1.0, 41):
            step = top * fraction / q_max
            err = ((torch.clamp(torch.round(values / step), q_min, q_max) * step - values) ** 2).mean()
            if err < best_err:
                best, best_err = step, float(err)
        with torch.no_grad():
            self.step.copy_(best)
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return x
        if self.calibrating:
            self.observe(x)
            return x
        q_min, q_max = int_range(self.bits, self.signed)
        step = _grad_scale(self.step.abs().clamp_min(1e-8), 1.0 / math.sqrt(x.numel() / x.shape[0] * q_max))
        return torch.clamp(round_ste(x / step), q_min, q_max) * step

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}"
