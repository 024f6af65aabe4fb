"""Put fake quantizers on an extracted sub-net and calibrate the activation ranges.

After :func:`attach_quantizers` every conv/linear listed in the plan has a
:class:`~apq.quant.fake_quant.WeightFakeQuant` in ``weight_quant`` and an
:class:`~apq.quant.fake_quant.ActFakeQuant` in ``input_quant``; their ``bits``, ``signed``,
``per_channel`` attributes and the scales (``WeightFakeQuant.scale(weight)``,
``ActFakeQuant.step``) are what an exporter reads to write QuantizeLinear/DequantizeLinear pairs.
"""
from __future__ import annotations

import torch
from torch import nn

from apq.quant.fake_quant import ActFakeQuant, WeightFakeQuant
from apq.nn.layers import HookedLinear
from apq.quant.policy import LayerQuant


def attach_quantizers(model: nn.Module, plan: list[LayerQuant], per_channel: bool = True) -> nn.Module:
    """Set the quantizer hooks of every layer in ``plan`` (in place); returns ``model``.

    A plain ``nn.Linear`` in the plan is first swapped for a :class:`HookedLinear` copy.
    """
    for layer in plan:
        module = model.get_submodule(layer.name)
        if isinstance(module, nn.Linear) and not isinstance(module, HookedLinear):
            parent_name, _, child = layer.name.rpartition(".")
            module = HookedLinear.from_linear(module)
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module)
        device = module.weight.device
        module.weight_quant = WeightFakeQuant(layer.weight_bits, per_channel).to(device)
        module.input_quant = ActFakeQuant(layer.act_bits, signed=layer.signed).to(device)
    return model


def quantized_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of every layer of ``model`` that carries a weight quantizer, in module order."""
    return [(name, m) for name, m in model.named_modules() if getattr(m, "weight_quant", None) is not None]


def act_quantizers(model: nn.Module) -> list[ActFakeQuant]:
    return [m for m in model.modules() if isinstance(m, ActFakeQuant)]


@torch.no_grad()
def calibrate_ranges(model: nn.Module, images: torch.Tensor, batch_size: int) -> nn.Module:
    """Initialise every activation step from ``images`` (N, C, H, W), on the model's device.

    The model runs in eval mode with activations un-quantized (each quantizer only observes its
    input), weights quantized; then each step is set to its MSE-optimal clipping.
    """
    quantizers = act_quantizers(model)
    model.eval()
    for quant in quantizers:
        quant.calibrating = True
    try:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size])
    finally:
        for quant in quantizers:
            quant.calibrating = False
    for quant in quantizers:
        quant.finish_calibration()
    return model
