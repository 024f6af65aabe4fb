"""One quantized evaluation of a genome, end to end.

    supernet + genome -> extract the static sub-net -> BN re-calibration (fp32: the teacher)
      -> copy, attach quantizers for the genome's bit policy -> activation range calibration
      -> short QAT fine-tune distilled from the teacher -> accuracy / loss on a split

Used by ``apq samples --quant`` (validation split, the preset's short fine-tune) and by
``apq verify`` (test split, a longer fine-tune).
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from apq.quant.attach import attach_quantizers, calibrate_ranges
from apq.quant.config import QuantConfig
from apq.quant.policy import bit_policy, layer_plan
from apq.quant.qat import qat_finetune
from apq.supernet.bn_calibration import calibrate_bn
from apq.supernet.evaluate import EvalResult, evaluate, prepare


@dataclass
class QuantEval:
    """Result of :func:`evaluate_quantized`: top-1 accuracy (percent), mean cross-entropy, number of
    images, wall seconds, the fine-tuned fake-quantized model and its fp32 teacher (both eval mode),
    top-1 on the even- and odd-numbered images (``halves``, percent), the (count,) bool per-image
    correctness (``correct``) and per-image cross-entropy (``losses``)."""

    accuracy: float
    loss: float
    count: int
    seconds: float
    model: nn.Module
    teacher: nn.Module
    halves: tuple[float, float] = (float("nan"), float("nan"))
    correct: np.ndarray | None = None
    losses: np.ndarray | None = None

    @property
    def result(self) -> EvalResult:
        return EvalResult(self.accuracy, self.loss, self.count, self.halves, self.correct, self.losses)


def _device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def recalibrated_subnet(supernet: nn.Module, genome: np.ndarray, calib_images: torch.Tensor, batch_size: int,
                        channels_last: bool = True) -> nn.Module:
    """fp32 static sub-net of ``genome`` with BN statistics re-estimated on ``calib_images``
    (N, C, H, W) in batches of ``batch_size``; eval mode, on the supernet's device."""
    net = supernet.extract(genome)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return calibrate_bn(net, prepare(calib_images, _device(net), channels_last), batch_size)


def teacher_subnet(supernet: nn.Module, genome: np.ndarray, calib_images: torch.Tensor, config: QuantConfig) -> nn.Module:
    """The BN-recalibrated fp32 sub-net (first ``config.bn_calib_images`` of ``calib_images``)."""
    return recalibrated_subnet(supernet, genome, calib_images[:config.bn_calib_images], config.bn_calib_batch,
                               config.channels_last)


def quantize_model(fp32_subnet: nn.Module, policy: dict, calib_images: torch.Tensor, config: QuantConfig) -> nn.Module:
    """Fake-quantized copy of a BN-calibrated ``fp32_subnet`` for a :func:`bit_policy` dict,
    activation ranges calibrated on the first ``config.range_calib_images`` of ``calib_images``."""
    model = attach_quantizers(copy.deepcopy(fp32_subnet), layer_plan(fp32_subnet.block_ids, policy), config.per_channel)
    images = prepare(calib_images[:config.range_calib_images], _device(model), config.channels_last)
    return calibrate_ranges(model, images, config.eval_batch)


def quantize_subnet(supernet: nn.Module, genome: np.ndarray, calib_images: torch.Tensor,
                    config: QuantConfig) -> nn.Module:
    """Extracted sub-net of ``genome`` with BN re-calibrated, quantizers attached for its bit genes
    and activation ranges calibrated; eval mode, not fine-tuned."""
    fp32 = teacher_subnet(supernet, genome, calib_images, config)
    return quantize_model(fp32, bit_policy(supernet.space, genome), calib_images, config)


def evaluate_quantized(supernet: nn.Module, genome: np.ndarray, data, config: QuantConfig, steps: int | None = None,
                       split: str = "val", seed: int = 0) -> QuantEval:
    """Quantize, fine-tune for ``steps`` (default ``config.qat_steps``) and evaluate on ``split``.

    ``data``: a :class:`apq.samples.data.SampleData` (``calib``, ``train_x/y`` and the split's
    tensors). ``seed`` fixes the fine-tune's batch order and the calibration subsampling.
    """
    started = time.perf_counter()
    torch.manual_seed(seed)
    steps = config.qat_steps if steps is None else steps
    teacher = teacher_subnet(supernet, genome, data.calib, config)
    model = quantize_model(teacher, bit_policy(supernet.space, genome), data.calib, config)
    model = qat_finetune(model, teacher, data.train_x, data.train_y, steps, config, seed)
    x, y = data.split(split)
    res = evaluate(model, x, y, config.eval_batch, config.channels_last)
    return QuantEval(res.accuracy, res.loss, res.count, time.perf_counter() - started, model, teacher, res.halves,
                     res.correct, res.losses)
