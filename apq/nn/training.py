"""Training helpers shared by supernet training and quantization-aware fine-tuning."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cosine_lr(step: int, total: int, peak: float, warmup: int) -> float:
    """Learning rate of ``step`` (0-based) of ``total``: linear warm-up, then cosine to zero."""
    ramp = min(1.0, (step + 1) / warmup) if warmup else 1.0
    return peak * ramp * 0.5 * (1.0 + math.cos(math.pi * step / max(total, 1)))


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """Soft-target cross-entropy (Hinton et al. 2015), scaled by T^2 so gradients keep their size.

    student, teacher: logits (N, classes); returns a scalar (mean over the N rows).
    """
    target = F.softmax(teacher / temperature, dim=1)
    return -(target * F.log_softmax(student / temperature, dim=1)).sum(dim=1).mean() * temperature ** 2


def weight_decay_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weight decay on conv/linear weights only (not on BN affines,
    biases or the elastic kernels' transform matrices)."""
    decay, plain = [], []
    for name, param in net.named_parameters():
        (plain if param.ndim <= 1 or "transforms" in name else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
