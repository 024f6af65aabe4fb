"""FPGA (BISMO on Zynq-7020) model: hand-computed cycles, bit scaling, depthwise penalty."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apq.errors import UserError
from apq.hardware import fpga
from apq.space.layers import ConvLayers

TARGET = fpga.FpgaTarget()


def test_tiny_gemm_hand_computed():
    # 1x1 conv 300 -> 10 channels on a 5x5 input, W3A2: GEMM M=10, K=300, N=25.
    # Tiles: ceil(10/8)=2 x ceil(300/256)=2 x ceil(25/8)=4 = 16, times 3*2 = 6 bit-serial
    # passes = 96 cycles.
    layers = ConvLayers.from_rows([(300, 10, 5, 1, 1, 1, 3, 2)])
    s = fpga.layer_stats(layers)
    assert s["compute"][0] == 96
    # DRAM: weights 10*300*3 = 9000, inputs 300*25*2 = 15000, 32-bit results 10*25*32 = 8000
    # bits; all fit on chip, each moved once.
    assert s["dram"][0] == 9000 + 15000 + 8000
    lat, energy = TARGET.layer_cost(layers)
    compute_s = 96 / 200e6
    memory_s = 32000 / 8 / (2.1e9 * 0.7)  # DDR3 x16 at 1050 Mb/s, 70 % efficiency
    assert memory_s > compute_s  # tiny layers are memory bound
    assert lat[0] == pytest.approx((memory_s + 10e-6) * 1e3)
    expected_pj = (96 * 8 * 256 * 8 * 0.1 + 96 * 16 * 256 * 0.3 + 32000 * 20.0
                   + 0.12 * (memory_s + 10e-6) * 1e12)
    assert energy[0] == pytest.approx(expected_pj * 1e-9)


def test_lowered_conv_shape():
    # 3x3 conv, 32 -> 64, 28x28 input, stride 2: M=64, K=32*9=288, N=14*14=196.
    m, k, n, g = fpga.gemm_shapes(ConvLayers.from_rows([(32, 64, 28, 3, 2, 1, 8, 8)]))
    assert (m[0], k[0], n[0], g[0]) == (64, 288, 196, 1)
    s = fpga.layer_stats(ConvLayers.from_rows([(32, 64, 28, 3, 2, 1, 8, 8)]))
    assert s["compute"][0] == 8 * 2 * 25 * 64  # ceil(64/8) * ceil(288/256) * ceil(196/8) * 8*8


def test_w4a4_cheaper_than_w8a8_when_compute_bound():
    rows = [(512, 512, 14, 1, 1, 1)]
    l8, e8 = TARGET.layer_cost(ConvLayers.from_rows([rows[0] + (8, 8)]))
    l4, e4 = TARGET.layer_cost(ConvLayers.from_rows([rows[0] + (4, 4)]))
    s8 = fpga.layer_stats(ConvLayers.from_rows([rows[0] + (8, 8)]))
    assert s8["compute"][0] / fpga.FREQ_HZ > s8["dram"][0] / 8 / fpga.DRAM_BYTES_PER_S  # compute bound
    assert l4[0] < 0.5 * l8[0]
    assert e4[0] < 0.5 * e8[0]


@pytest.mark.parametrize("shape", [(512, 512, 14, 1, 1, 1), (96, 96, 14, 3, 1, 96), (24, 48, 28, 3, 2, 1)])
def test_two_bit_compute_scales_with_w_times_a(shape):
    """Bit-serial: a w x a-bit product is w * a binary passes, 2 bits included."""
    pairs = [(8, 8), (2, 2), (2, 8), (8, 2), (2, 4), (1, 1)]
    compute = fpga.layer_stats(ConvLayers.from_rows([shape + pair for pair in pairs]))["compute"]
    np.testing.assert_array_equal(compute, compute[0] * np.array([w * a for w, a in pairs]) / 64)
    lat, energy = TARGET.layer_cost(ConvLayers.from_rows([shape + pair for pair in pairs]))
    assert lat[1] < lat[0] and energy[1] < energy[0] and np.all(np.isfinite(lat))


def test_depthwise_efficiency_penalty():
    # Array utilisation = useful binary MACs / (cycles * 8*256*8).
    pw = ConvLayers.from_rows([(256, 256, 14, 1, 1, 1, 8, 8)])
    dw = ConvLayers.from_rows([(256, 256, 14, 3, 1, 256, 8, 8)])
    util = [float(x.bitops[0] / (fpga.layer_stats(x)["compute"][0] * 8 * 256 * 8)) for x in (pw, dw)]
    assert util[0] == pytest.approx(196 / 200)  # N = 196 pixels in 25 tiles of 8
    # Packed depthwise: 8 channels x 9 taps = 72 of 256 lanes, of which only 9 per row are
    # non-zero: 9/256 lane utilisation (times the same 196/200 on N).
    assert util[1] == pytest.approx(9 / 256 * 196 / 200)
    lat_pw, _ = TARGET.layer_cost(pw)
    lat_dw, _ = TARGET.layer_cost(dw)
    assert lat_dw[0] > lat_pw[0] * dw.macs[0] / pw.macs[0] * 5  # far slower per MAC


@settings(max_examples=30, deadline=None)
@given(cin=st.integers(1, 1024), cout=st.integers(1, 1024), size=st.sampled_from([1, 7, 14, 28, 56, 112]),
       k=st.sampled_from([1, 3, 5, 7]), stride=st.sampled_from([1, 2]), dw=st.booleans(),
       other=st.integers(1, 8))
def test_monotone_in_bits(cin, cout, size, k, stride, dw, other):
    groups = cin if dw else 1
    cout = cin if dw else cout
    bits = np.arange(1, 9)
    for vary_w in (True, False):
        w = bits if vary_w else np.full(bits.size, other)
        a = np.full(bits.size, other) if vary_w else bits
        cols = [np.full(bits.size, v) for v in (cin, cout, size, k, stride, groups)]
        lat, energy = TARGET.layer_cost(ConvLayers(*cols, w, a))
        assert np.all(lat > 0) and np.all(np.isfinite(lat))
        assert np.all(np.diff(lat) >= 0) and np.all(np.diff(energy) > 0)


def test_mobilenet_v2_lands_in_tens_of_ms():
    rows = [(3, 32, 224, 3, 2, 1)]
    c, s = 32, 112
    for t, co, n, st_ in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                          (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride, mid = (st_ if i == 0 else 1), c * t
            if t != 1:
                rows.append((c, mid, s, 1, 1, 1))
            rows.append((mid, mid, s, 3, stride, mid))
            s //= stride
            rows.append((mid, co, s, 1, 1, 1))
            c = co
    rows += [(c, 1280, 7, 1, 1, 1), (1280, 1000, 1, 1, 1, 1)]
    lat8 = TARGET.layer_cost(ConvLayers.from_rows([r + (8, 8) for r in rows]))[0].sum()
    lat4 = TARGET.layer_cost(ConvLayers.from_rows([r + (4, 4) for r in rows]))[0].sum()
    assert 10 < lat4 < lat8 < 100


def test_zero_bits_rejected():
    with pytest.raises(UserError):
        TARGET.layer_cost(ConvLayers.from_rows([(8, 8, 7, 1, 1, 1, 0, 8)]))
