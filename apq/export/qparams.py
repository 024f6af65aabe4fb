"""Quantization parameters of each conv/linear of a fake-quantized sub-net, batch norm folded.

What the fake quantizers compute (:mod:`apq.quant.fake_quant`), per layer in eval mode::

    x_q = clamp(round(x / step), q_min, q_max) * step          input activation, one step per tensor
    W_q = clamp(round(W / s_c), -q_w, q_w) * s_c                weight, s_c = r_c * max|W[c]| / q_w per
                                                                 output channel c, q_w = 2^(b-1) - 1,
                                                                 r_c its MSE-optimal clip ratio
    y   = BN(conv(x_q, W_q)) = alpha_c * conv(x_q, W_q) + beta_c
          alpha_c = gamma_c / sqrt(var_c + eps),  beta_c = bias_c - mean_c * alpha_c

``round`` is round-half-to-even (``torch.round``), as ONNX QuantizeLinear's. Folding the BN
scale into the weight *scale* keeps the integer weights ``n = clamp(round(W / s_c))`` unchanged:
``alpha_c * W_q[c] = n[c] * (s_c * alpha_c)``, so the exported weight is ``n'[c] * s'_c`` with
``s'_c = s_c * |alpha_c|`` (> 0, as ONNX scales must be) and ``n'[c] = sign(alpha_c) * n[c]``
(still within the symmetric ``[-q_w, q_w]``). The bias ``beta_c`` stays float. A channel with
``alpha_c = 0`` exports ``n' = 0`` with ``s'_c = s_c``.

Reading the grid off the modules (not recomputing it) keeps the export tied to exactly what the
model ran with; torch ops are used so the integers are those ``WeightFakeQuant`` computes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from apq.quant.fake_quant import ActFakeQuant, WeightFakeQuant, int_range

#: Widest integer grid an ONNX int8/uint8 QuantizeLinear holds; narrower grids need a Clip.
ONNX_BITS = 8


@dataclass(frozen=True)
class ActGrid:
    """Per-tensor activation quantizer: ``clamp(round(x / step), q_min, q_max) * step``.

    ``step`` in input units (float32); signed grids are int8 in ONNX, unsigned ones uint8,
    zero point 0 in both.
    """

    bits: int
    signed: bool
    step: np.float32

    @property
    def q_range(self) -> tuple[int, int]:
        return int_range(self.bits, self.signed)

    @property
    def needs_clip(self) -> bool:
        """Whether the grid is narrower than the ONNX integer type saturates to (bits < 8)."""
        return self.bits < ONNX_BITS

    @property
    def clip_range(self) -> tuple[np.float32, np.float32]:
        """Float bounds ``(q_min * step, q_max * step)`` computed in float32, exactly the values
        dequantization gives the end levels (so clipping to them then quantizing yields q_min/q_max)."""
        q_min, q_max = self.q_range
        return np.float32(q_min) * self.step, np.float32(q_max) * self.step


@dataclass(frozen=True)
class QuantLayer:
    """One conv or linear with BN folded: float output ``op(x_q, int_weight * scale) + bias``.

    int_weight: int8 (C_out, C_in / groups, k, k) or (C_out, C_in), in [-q_w, q_w].
    scale: float32 (C_out,) > 0, per-output-channel weight step (BN scale folded in).
    bias: float32 (C_out,). act: the input quantizer. stride/padding/groups: conv geometry.
    """

    name: str
    int_weight: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    weight_bits: int
    act: ActGrid
    stride: tuple[int, ...] = (1, 1)
    padding: tuple[int, ...] = (0, 0)
    groups: int = 1

    @property
    def float_weight(self) -> np.ndarray:
        """``int_weight * scale`` per output channel, float32: the weight on its quantization grid."""
        shape = (-1,) + (1,) * (self.int_weight.ndim - 1)
        return self.int_weight.astype(np.float32) * self.scale.reshape(shape)


def act_grid(quant: nn.Module) -> ActGrid:
    """The grid of an :class:`ActFakeQuant` (step as used in forward: ``|step|`` clamped to 1e-8)."""
    if not isinstance(quant, ActFakeQuant) or quant.bits is None:
        raise TypeError(f"expected an ActFakeQuant with bits, got {quant!r}")
    step = quant.step.detach().abs().clamp_min(1e-8).float().cpu()
    return ActGrid(int(quant.bits), bool(quant.signed), np.float32(step.item()))


def _bn_affine(norm: nn.BatchNorm2d | None, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(alpha, beta) float32 (C,) of an eval-mode BN as torch's CPU kernel forms them (identity if None)."""
    if norm is None:
        return torch.ones(channels), torch.zeros(channels)
    invstd = 1.0 / torch.sqrt(norm.running_var.detach().float().cpu() + norm.eps)
    alpha = invstd * norm.weight.detach().float().cpu()
    return alpha, norm.bias.detach().float().cpu() - norm.running_mean.detach().float().cpu() * alpha


@torch.no_grad()
def quant_layer(name: str, module: nn.Module, norm: nn.BatchNorm2d | None = None) -> QuantLayer:
    """Fold ``norm`` (the BN after ``module``, or None) into the quantized ``module`` (conv or linear
    carrying ``weight_quant`` / ``input_quant``)."""
    wq = module.weight_quant
    if not isinstance(wq, WeightFakeQuant) or wq.bits is None:
        raise TypeError(f"{name}: expected a WeightFakeQuant with bits, got {wq!r}")
    weight = module.weight.detach().float().cpu()
    channels, q_w = weight.shape[0], 2 ** (wq.bits - 1) - 1
    step = wq.scale(weight)
    ints = torch.clamp(torch.round(weight / step), -q_w, q_w)
    alpha, beta = _bn_affine(norm, channels)
    if module.bias is not None:
        beta = beta + module.bias.detach().float().cpu() * alpha
    sign = torch.sign(alpha)
    scale = torch.where(alpha == 0, step.flatten().expand(channels), step.flatten().expand(channels) * alpha.abs())
    ints = ints * sign.view(-1, *([1] * (weight.dim() - 1)))
    geometry = {}
    if isinstance(module, nn.Conv2d):
        geometry = {"stride": tuple(module.stride), "padding": tuple(module.padding), "groups": module.groups}
    return QuantLayer(name, ints.numpy().astype(np.int8), scale.numpy().astype(np.float32),
                      beta.numpy().astype(np.float32), int(wq.bits), act_grid(module.input_quant), **geometry)
