"""Accuracy of a model or of one sub-net of a supernet on in-memory images."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apq.supernet.bn_calibration import calibrate_bn


@dataclass(frozen=True)
class EvalResult:
    """Top-1 accuracy in percent, mean cross-entropy loss (nats) and number of images;
    ``halves``: top-1 (percent) on the even- and on the odd-numbered images; ``correct``: (count,)
    bool, whether each image was classified correctly (for paired comparisons, :mod:`apq.verify.stats`);
    ``losses``: (count,) float64 cross-entropy of each image (nats; exp(-loss) is its correct-class
    probability), for the samples' soft labels."""

    accuracy: float
    loss: float
    count: int
    halves: tuple[float, float] = (float("nan"), float("nan"))
    correct: np.ndarray | None = field(default=None, compare=False, repr=False)
    losses: np.ndarray | None = field(default=None, compare=False, repr=False)


def prepare(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """Move a float32 (N, C, H, W) batch to ``device`` in the memory layout the model uses."""
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
             channels_last: bool = False) -> EvalResult:
    """Evaluate ``model`` in eval mode on images x (N, C, H, W) float32 and labels y (N,) int64."""
    model.eval()
    device = next(model.parameters()).device
    hits, losses = [], []
    for start in range(0, len(x), batch_size):
        logits = model(prepare(x[start:start + batch_size], device, channels_last))
        labels = y[start:start + batch_size].to(device)
        hits.append((logits.argmax(dim=1) == labels).cpu())
        losses.append(F.cross_entropy(logits.float(), labels, reduction="none").cpu())
    count = len(x)
    correct = torch.cat(hits).numpy() if hits else np.zeros(0, dtype=bool)
    per_image = torch.cat(losses).numpy().astype(np.float64) if losses else np.zeros(0)
    hit = correct.astype(np.float64)
    halves = tuple(100.0 * float(h.mean()) if len(h) else float("nan") for h in (hit[0::2], hit[1::2]))
    return EvalResult(100.0 * float(hit.sum()) / max(count, 1), float(per_image.sum()) / max(count, 1), count, halves,
                      correct, per_image)


def evaluate_subnet(supernet: nn.Module, genome: np.ndarray, calib_images: torch.Tensor,
                    x: torch.Tensor, y: torch.Tensor, calib_batch: int, eval_batch: int,
                    channels_last: bool = False) -> EvalResult:
    """Activate ``genome`` in ``supernet``, re-calibrate its BN on ``calib_images``, evaluate on (x, y)."""
    supernet.set_active(genome)
    device = next(supernet.parameters()).device
    calibrate_bn(supernet, prepare(calib_images, device, channels_last), calib_batch)
    return evaluate(supernet, x, y, eval_batch, channels_last)
