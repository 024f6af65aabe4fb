"""Quantizers on an extracted sub-net: bits respected per layer, signedness, range calibration."""
import pytest
import torch

from apq.nn.layers import HookedLinear
from apq.quant.attach import act_quantizers, attach_quantizers, calibrate_ranges, quantized_layers
from apq.quant.policy import bit_policy, layer_plan
from tests.helpers.nets import genome_with_bits


def _quantized(space, supernet, genome, images=None):
    """Extracted sub-net with quantizers (activation ranges calibrated on ``images`` if given)."""
    net = supernet.extract(genome).eval()
    plan = layer_plan(net.block_ids, bit_policy(space, genome))
    model = attach_quantizers(net, plan)
    return (model if images is None else calibrate_ranges(model, images, 16)), plan


def _weight_levels(module) -> torch.Tensor:
    """Integer grid levels of the module's quantized weight."""
    quant = module.weight_quant
    return torch.round(quant(module.weight) / quant.scale(module.weight)).detach()


@pytest.mark.parametrize("pw,dw", [(4, 8), (8, 4), (6, 6)])
def test_weights_use_exactly_the_bits_of_their_block(fmnist, supernet, tiny_data, pw, dw):
    genome = genome_with_bits(fmnist, 1, pw_w=pw, pw_a=8, dw_w=dw, dw_a=8)
    model, plan = _quantized(fmnist, supernet, genome)
    for layer in plan:
        levels = _weight_levels(model.get_submodule(layer.name))
        top = 2 ** (layer.weight_bits - 1) - 1
        assert levels.abs().max() == top, layer.name  # the largest weight of a channel hits the top level
        distinct = len(torch.unique(levels))
        assert distinct <= 2 * top + 1, layer.name
        if levels.numel() > 4 * (2 * top + 1) and layer.weight_bits > 4:
            assert distinct > 15, layer.name  # more levels than any 4-bit grid has


def test_activation_bits_and_signedness_follow_the_plan(fmnist, supernet, tiny_data):
    genome = genome_with_bits(fmnist, 2, pw_w=8, pw_a=4, dw_w=8, dw_a=6)
    model, plan = _quantized(fmnist, supernet, genome, tiny_data.calib)
    for layer in plan:
        quant = model.get_submodule(layer.name).input_quant
        assert (quant.bits, quant.signed) == (layer.act_bits, layer.signed)
        assert bool(quant.initialized) and float(quant.step.detach()) > 0
    assert isinstance(model.tail.classifier, HookedLinear)
    assert len(quantized_layers(model)) == len(plan) == len(act_quantizers(model))


def test_signedness_matches_the_observed_inputs(fmnist, supernet, tiny_data):
    genome = genome_with_bits(fmnist, 4, pw_w=8, pw_a=8, dw_w=8, dw_a=8)
    net = supernet.extract(genome).eval()
    plan = layer_plan(net.block_ids, bit_policy(fmnist, genome))
    minima = {}

    def record(name):
        def hook(module, args):
            minima[name] = float(args[0].min())
        return hook

    for layer in plan:
        net.get_submodule(layer.name).register_forward_pre_hook(record(layer.name))
    with torch.no_grad():
        net(tiny_data.calib)
    for layer in plan:
        assert (minima[layer.name] < 0) == layer.signed, layer.name


def test_eight_bit_model_is_close_to_fp32_and_four_bit_further(fmnist, supernet, tiny_data):
    x = tiny_data.val_x
    errors = {}
    for bits in (8, 4):
        genome = genome_with_bits(fmnist, 5, pw_w=bits, pw_a=bits, dw_w=bits, dw_a=bits)
        reference = supernet.extract(genome).eval()(x)
        model, _ = _quantized(fmnist, supernet, genome, tiny_data.calib)
        errors[bits] = float(((model(x) - reference).norm() / reference.norm()).detach())
    assert errors[8] < 0.1 and errors[8] < errors[4]


def test_classifier_swap_keeps_the_state_dict_keys(fmnist, supernet, tiny_data):
    genome = genome_with_bits(fmnist, 6, pw_w=8, pw_a=8, dw_w=8, dw_a=8)
    plain = supernet.extract(genome)
    model, _ = _quantized(fmnist, supernet, genome, tiny_data.calib[:16])
    assert set(plain.state_dict()) <= set(model.state_dict())
    assert torch.equal(plain.tail.classifier.weight, model.tail.classifier.weight)
    extra = set(model.state_dict()) - set(plain.state_dict())
    assert all(key.endswith(("input_quant.step", "input_quant.initialized")) for key in extra)
