"""Simulated (fake) quantization modules with a straight-through estimator.

Both modules map a float tensor to a float tensor holding quantized values, so they slot into
the ``weight_quant`` / ``input_quant`` hooks of the supernet's convs. ``bits=None`` passes the
tensor through unchanged (fp32).

- :class:`WeightFakeQuant`: symmetric, per output channel (dim 0) by default, the clipping range
  of each channel chosen MSE-optimally among fractions of its max |w| (:data:`WEIGHT_CLIP_RATIOS`):
  no state to learn, so it follows the weights during fine-tuning.
- :class:`ActFakeQuant`: a learnable step size (LSQ, Esser et al., ICLR 2020) initialised from a
  calibration pass (MSE-optimal clipping over observed activations); unsigned after ReLU6,
  signed where inputs can be negative.
"""
from __future__ import annotations

import math

import torch
from torch import nn


#: Observed activation values the MSE grid search of a calibration is measured on.
GRID_VALUES = 16384
#: Clipping ranges tried per weight channel, as fractions of its max |w|. Why: at 2 bits the grid
#: is ternary and max scaling rounds ~90 % of Gaussian weights to 0 (relative MSE 0.72 against
#: 0.19 at the best clip, optimum near 0.3-0.45 of max); at 4 bits the optimum is ~0.75, at 8 bits 1.0.
WEIGHT_CLIP_RATIOS = torch.linspace(0.1, 1.0, 19)


class RoundToGrid(torch.autograd.Function):
    """``clamp(round(w / s), -q_max, q_max) * s`` with an identity gradient for ``w`` (straight-through).

    The scale ``s`` is not learned (:meth:`WeightFakeQuant.scale`); weights beyond the clipping
    range still get the incoming gradient, so a clipped weight can move back inside. One autograd
    node instead of the five of the composed ops, and the forward value is exactly the grid level
    times ``s``.
    """

    @staticmethod
    def forward(ctx, weight, scale, q_max: int):
        return torch.round(weight / scale).clamp_(-q_max, q_max).mul_(scale)

    @staticmethod
    def backward(ctx, grad):
        return grad, None, None


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
        self._scale_key: tuple | None = None
        self._scale: torch.Tensor | None = None

    @torch.no_grad()
    def scale(self, weight: torch.Tensor) -> torch.Tensor:
        """Step size, shape (C_out, 1, 1, ...) per channel or a scalar tensor.

        ``ratio * max|w| / q_max`` with ``ratio`` the :data:`WEIGHT_CLIP_RATIOS` entry of least
        squared quantization error of that channel (or tensor); ties go to the smaller ratio.
        """
        q_max = 2 ** (self.bits - 1) - 1
        flat = weight.detach().flatten(1) if self.per_channel else weight.detach().reshape(1, -1)
        w_max = flat.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)  # (C, 1)
        steps = w_max * WEIGHT_CLIP_RATIOS.to(flat)[None, :] / q_max  # (C, R)
        grid = torch.round(flat[:, None, :] / steps[:, :, None]).clamp_(-q_max, q_max)
        errors = (grid.mul_(steps[:, :, None]).sub_(flat[:, None, :]) ** 2).sum(dim=2)  # (C, R)
        best = steps.gather(1, errors.argmin(dim=1, keepdim=True))  # (C, 1)
        if self.per_channel:
            return best.view(-1, *([1] * (weight.dim() - 1)))
        return best.reshape(())

    def cached_scale(self, weight: torch.Tensor) -> torch.Tensor:
        """:meth:`scale`, computed once per parameter while the module stays in evaluation mode.

        Why: the clip search costs ~10 % of an evaluation pass, in which the weights are fixed.
        The cache holds only in eval mode (``train()`` / ``eval()`` clear it: fused optimizers
        update weights without bumping their version counter) and only for a parameter whose
        storage, shape and version are unchanged (``copy_`` and ``load_state_dict`` bump it); a
        transformed supernet kernel, a new tensor each forward, is never cached.
        """
        if self.training or not isinstance(weight, nn.Parameter):
            return self.scale(weight)
        key = (weight.data_ptr(), weight._version, tuple(weight.shape), weight.dtype, weight.device)
        if key != self._scale_key:
            self._scale_key, self._scale = key, self.scale(weight)
        return self._scale

    def train(self, mode: bool = True) -> "WeightFakeQuant":
        self._scale_key = self._scale = None
        return super().train(mode)

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return weight
        return _laid_out_like(RoundToGrid.apply(weight, self.cached_scale(weight), 2 ** (self.bits - 1) - 1), weight)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, per_channel={self.per_channel}"


def _laid_out_like(result: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``result`` with the strides of ``reference``.

    Convolutions pick their memory format from the strides of input and weight. For a weight of
    shape (C, 1, k, k) (depthwise, or a 1-channel stem) elementwise ops return contiguous
    strides even when the weight was channels-last, which silently switches the whole network
    to the ~3x slower contiguous depthwise path on CPU; copying into ``empty_like`` keeps them.
    """
    if result.stride() == reference.stride():
        return result
    return torch.empty_like(reference).copy_(result)


class LsqQuantize(torch.autograd.Function):
    """``clamp(round(x / s), q_min, q_max) * s`` with LSQ gradients (Esser et al., ICLR 2020).

    d/dx: 1 inside the grid range, 0 where clipped (straight-through). d/ds per element:
    ``round(x/s) - x/s`` inside, the clip level outside; summed and multiplied by ``grad_factor``
    (LSQ's 1 / sqrt(features * q_max)). Written out instead of torch's fused
    ``_fake_quantize_learnable_per_tensor_affine``: on this CPU that kernel is not vectorised
    and was 7x slower in inference, 1.3x slower forward + backward.

    The step's gradient is summed as ``<grad, levels> - <grad_x, x/s>`` (two dot products, no
    temporaries) and the mask is a float tensor, so the backward makes 5 passes over the
    activation instead of 10 with bool-to-float casts: 1.3-3x faster forward + backward on CPU
    (``bench/fake_quant.py``), same values and input gradients bit for bit.
    """

    @staticmethod
    def forward(ctx, x, step, q_min: int, q_max: int, grad_factor: float):
        scaled = x / step
        levels = torch.round(scaled).clamp_(q_min, q_max)
        ctx.save_for_backward(scaled, levels)
        ctx.q_range, ctx.grad_factor, ctx.step_shape = (q_min, q_max), grad_factor, step.shape
        return levels * step

    @staticmethod
    def backward(ctx, grad):
        scaled, levels = ctx.saved_tensors
        q_min, q_max = ctx.q_range
        inside = scaled.clamp(q_min, q_max).eq_(scaled)  # float: 1.0 inside the grid range, 0.0 where clipped
        grad_x = grad * inside
        grad_step = (_dot(grad, levels) - _dot(grad_x, scaled)) * ctx.grad_factor
        return grad_x, grad_step.reshape(ctx.step_shape), None, None, None


def lsq_grad_factor(x: torch.Tensor, q_max: int) -> float:
    """LSQ's step-gradient scale 1 / sqrt(features per sample * q_max) for an activation batch ``x``."""
    return 1.0 / math.sqrt(x.numel() / x.shape[0] * q_max)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum of ``a * b`` over all elements (0-d tensor), without the product as a temporary when
    both are dense with the same memory layout (then their storage orders match element by element)."""
    dense = a.is_contiguous() or (a.dim() == 4 and a.is_contiguous(memory_format=torch.channels_last))
    if dense and a.stride() == b.stride():
        return torch.dot(a.as_strided((a.numel(),), (1,)), b.as_strided((b.numel(),), (1,)))
    return (a * b).sum()


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
        """Keep a random subsample of ``x`` (flattened) and the running range top for calibration."""
        flat = x.detach().flatten().float()
        top = flat.abs().max() if self.signed else flat.max()
        self._top = top if not self._observed else torch.maximum(self._top, top)
        keep = min(flat.numel(), self.max_observed)
        self._observed.append(flat[torch.randint(flat.numel(), (keep,), device=flat.device)].cpu())

    def finish_calibration(self) -> None:
        """Set the step to the MSE-optimal clipping of the observed values over a grid.

        Candidate ranges are 0.2..1.0 of the largest observed magnitude (41 points); the error is
        measured on :data:`GRID_VALUES` of the kept values, all candidates in one pass.
        """
        if self.bits is None or not self._observed:
            return
        values = torch.cat(self._observed)
        self._observed = []
        if values.numel() > GRID_VALUES:
            values = values[torch.randint(values.numel(), (GRID_VALUES,))]
        q_min, q_max = int_range(self.bits, self.signed)
        steps = self._top.cpu().clamp_min(1e-8) * torch.linspace(0.2, 1.0, 41)[:, None] / q_max  # (41, 1)
        errors = ((torch.clamp(torch.round(values / steps), q_min, q_max) * steps - values) ** 2).mean(dim=1)
        with torch.no_grad():
            self.step.copy_(steps[int(errors.argmin()), 0])
        self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits is None:
            return x
        if self.calibrating:
            self.observe(x)
            return x
        q_min, q_max = int_range(self.bits, self.signed)
        step = self.step.abs().clamp_min(1e-8)
        if not torch.is_grad_enabled():  # inference: the same ops in place, one tensor allocated instead of three
            return _laid_out_like(torch.div(x, step).round_().clamp_(q_min, q_max).mul_(step), x)
        return _laid_out_like(LsqQuantize.apply(x, step, q_min, q_max, lsq_grad_factor(x, q_max)), x)

    def extra_repr(self) -> str:
        return f"bits={self.bits}, signed={self.signed}"
