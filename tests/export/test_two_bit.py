"""2-bit layers export like 4-bit ones: ternary int8 weights, 2-bit activation grids held in int8/uint8 with a Clip."""
import numpy as np
import torch
from torch import nn

from apq.export.qparams import quant_layer
from apq.quant.fake_quant import ActFakeQuant, WeightFakeQuant


def _conv(signed: bool) -> nn.Conv2d:
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 4, 3, padding=1, bias=False)
    conv.weight_quant, conv.input_quant = WeightFakeQuant(2), ActFakeQuant(2, signed=signed)
    with torch.no_grad():
        conv.input_quant.step.fill_(0.5)
    return conv


def test_two_bit_weights_export_as_the_fake_quantizers_ternary_grid():
    conv = _conv(signed=True)
    layer = quant_layer("conv", conv)
    assert layer.weight_bits == 2 and layer.int_weight.dtype == np.int8
    assert set(np.unique(layer.int_weight).tolist()) == {-1, 0, 1}
    np.testing.assert_allclose(layer.float_weight, conv.weight_quant(conv.weight).detach().numpy(), rtol=1e-6)


def test_two_bit_activations_need_a_clip_to_their_grid():
    for signed, q_range in ((True, (-2, 1)), (False, (0, 3))):
        act = quant_layer("conv", _conv(signed)).act
        assert act.q_range == q_range and act.needs_clip
        assert act.clip_range == (np.float32(q_range[0] * 0.5), np.float32(q_range[1] * 0.5))
