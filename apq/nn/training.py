"""Training helpers shared by supernet training and quantization-aware fine-tuning."""
from __future__ import annotations

import math
from typing import Callable

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


def run_checkpointed(remaining: Callable[[], bool], train_step: Callable[[], tuple[float, float]],
                     after_step: Callable[[], None], save: Callable[[], None], bar) -> None:
    """The step loop of a resumable training: ``train_step()`` (one step, which also advances the
    caller's step counter; returns (loss, accuracy %) of the batch) while ``remaining()``, then
    ``after_step()`` (checkpoints, budgets). On Ctrl-C between steps, where the state is
    consistent, ``save()`` keeps the work done since the last checkpoint before re-raising.
    ``bar``: a tqdm bar, advanced per step and closed at the end."""
    clean = True
    try:
        while remaining():
            clean = False
            loss, acc = train_step()
            clean = True
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", acc=f"{acc:.1f}")
            after_step()
    except KeyboardInterrupt:
        if clean:
            save()
        raise
    finally:
        bar.close()
