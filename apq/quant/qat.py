"""Short quantization-aware fine-tune of a fake-quantized sub-net, distilled from its fp32 self.

Loss per step = ``hard_weight`` * cross-entropy to the labels + ``kd_weight`` * soft-target
cross-entropy to the fp32 teacher's logits (Hinton et al. 2015; APQ fine-tunes its quantized
candidates with the full-precision network as teacher as well). Adam with a cosine-decayed
learning rate updates the weights, the BN affines and (with ``learn_ranges``) the LSQ steps;
the weight quantizers follow the weights, as their scale is recomputed from them each step.

Each activation step has its own learning rate, ``range_lr`` times its calibrated size: Adam's
update is about its learning rate in absolute terms, and the calibrated steps of one sub-net
span orders of magnitude, so one shared rate moves the small steps far and the large ones not at all.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from apq.nn.training import cosine_lr, kd_loss
from apq.quant.attach import act_quantizers
from apq.quant.config import QuantConfig
from apq.quant.fold import fold_batch_norms
from apq.supernet.bn_calibration import batch_norms
from apq.supernet.evaluate import prepare


def parameter_groups(model: nn.Module, config: QuantConfig) -> list[dict]:
    """Adam parameter groups, each with its ``peak_lr``: the weights and BN affines at ``qat_lr``,
    then (with ``learn_ranges``) one group per quantizing activation step at ``range_lr`` x |step|."""
    quantizers = act_quantizers(model)
    step_ids = {id(q.step) for q in quantizers}
    groups = [{"params": [p for p in model.parameters() if id(p) not in step_ids], "peak_lr": config.qat_lr}]
    if config.learn_ranges:
        groups += [{"params": [q.step], "peak_lr": config.range_lr * max(abs(q.step.item()), 1e-8)}
                   for q in quantizers if q.bits is not None]
    return groups


def batch_order(n: int, steps: int, batch: int, seed: int) -> torch.Tensor:
    """Indices (steps, batch) into a training set of ``n`` images: seeded epochs of permutations."""
    gen = torch.Generator().manual_seed(seed)
    need = steps * batch
    perms = [torch.randperm(n, generator=gen) for _ in range(-(-need // n))]
    return torch.cat(perms)[:need].view(steps, batch)


def _set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    model.train()
    if freeze_bn:
        for norm in batch_norms(model):
            norm.eval()


def qat_finetune(model: nn.Module, teacher: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor,
                 steps: int, config: QuantConfig, seed: int) -> nn.Module:
    """Fine-tune fake-quantized ``model`` (in place) for ``steps`` batches; returns it in eval mode.

    teacher: the fp32 sub-net (frozen, eval mode). train_x (N, C, H, W) float32 normalised,
    train_y (N,) int64, on any device (batches move to the model's device). The batch order is
    a function of ``seed`` only, so the result is reproducible.
    """
    if steps <= 0:
        return model.eval()
    device = next(model.parameters()).device
    teacher = fold_batch_norms(teacher)  # same logits up to float rounding, one op less per layer
    optimizer = torch.optim.Adam(parameter_groups(model, config), fused=True)  # each group's lr is set every step below
    order = batch_order(len(train_x), steps, min(config.qat_batch, len(train_x)), seed)
    _set_train_mode(model, config.freeze_bn)
    for step, idx in enumerate(order):
        x = prepare(train_x[idx], device, config.channels_last)
        y = train_y[idx].to(device)
        logits = model(x)
        loss = config.hard_weight * F.cross_entropy(logits, y)
        if config.kd_weight:  # the teacher's forward pass only where its logits count
            with torch.no_grad():
                target = teacher(x)
            loss = loss + config.kd_weight * kd_loss(logits, target, config.kd_temperature)
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(step, steps, group["peak_lr"], 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return model.eval()
