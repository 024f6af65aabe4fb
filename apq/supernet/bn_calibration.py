"""Batch-norm re-calibration of one sub-net (once-for-all's ``set_running_statistics`` idea).

Weights shared by many sub-nets are fine, but BN running statistics collected while training
random sub-nets describe none of them. Before a sub-net is evaluated its statistics are reset and
re-estimated as the plain (cumulative) average over a fixed set of training images.
"""
from __future__ import annotations

import torch
from torch import nn


def batch_norms(model: nn.Module) -> list[nn.BatchNorm2d]:
    """All ``nn.BatchNorm2d`` modules of ``model`` (including those inside dynamic BN layers)."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def calibrate_bn(model: nn.Module, images: torch.Tensor, batch_size: int) -> nn.Module:
    """Reset every BN's running statistics and re-estimate them on ``images`` (N, C, H, W).

    Statistics are the average of the per-batch mean and (unbiased) variance over the
    ceil(N / batch_size) batches, each batch weighted equally; weights are untouched. The model
    is left in eval mode; for a supernet, call ``set_active`` first (only active channels change).
    """
    norms = batch_norms(model)
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average in PyTorch's BN and in DynamicBatchNorm
    model.train()
    try:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size])
    finally:
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
        model.eval()
    return model
