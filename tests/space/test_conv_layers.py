"""ConvLayers arithmetic on hand-computed shapes."""
import numpy as np
import pytest

from apq.errors import UserError
from apq.hardware.apq_format import format_key, parse_key
from apq.space.layers import ConvLayers


def test_macs_and_counts_hand_computed():
    layers = ConvLayers.from_rows([
        (16, 64, 112, 1, 1, 1, 8, 8),    # pointwise: 64 * 112^2 * 16
        (64, 64, 112, 3, 2, 64, 4, 6),   # depthwise stride 2: 64 * 56^2 * 9
    ])
    assert layers.macs.tolist() == [64 * 112**2 * 16, 64 * 56**2 * 9]
    assert layers.weight_count.tolist() == [16 * 64, 64 * 9]
    assert layers.output_count.tolist() == [64 * 112**2, 64 * 56**2]
    assert layers.is_depthwise.tolist() == [False, True]
    assert layers.bitops.tolist() == [64 * 112**2 * 16 * 64, 64 * 56**2 * 9 * 24]


def test_ragged_columns_rejected():
    with pytest.raises(ValueError):
        ConvLayers(*([np.arange(3)] * 7 + [np.arange(2)]))


def test_apq_key_round_trip():
    key = format_key(96, 96, 56, 5, 2, 96, 4, 8)
    assert key == "(96, 96, 56, 5, 2, 2, 96)-W4A8"
    assert parse_key(key) == (96, 96, 56, 5, 2, 96, 4, 8)
    with pytest.raises(UserError):
        parse_key("(96, 96, 56, 5, 2, 1, 96)-W4A8")  # padding must be kernel // 2
    with pytest.raises(UserError):
        parse_key("conv-W4A8")
