"""BitFusion analytic model: hand-computed bounds, bit monotonicity, calibration quality."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apq.hardware import bitfusion as bf
from apq.hardware.calibration import APQ_BITFUSION_TABLE, fit_report, load_reference, rankdata, spearman
from apq.hardware.cost import CostTable
from apq.space.layers import ConvLayers
from apq.space.registry import create_space

TARGET = bf.BitFusionTarget()


def test_positive_and_finite():
    layers = ConvLayers.from_rows([
        (16, 64, 112, 1, 1, 1, 8, 8),
        (96, 96, 56, 3, 2, 96, 4, 4),
        (1280, 1000, 1, 1, 1, 1, 6, 4),
        (3, 32, 224, 3, 2, 1, 8, 8),
        (64, 64, 28, 3, 1, 4, 4, 6),  # grouped (not depthwise)
    ])
    lat, energy = TARGET.layer_cost(layers)
    assert lat.shape == energy.shape == (5,)
    assert np.all(np.isfinite(lat)) and np.all(lat > 0)
    assert np.all(np.isfinite(energy)) and np.all(energy > 0)


def test_empty_input():
    lat, energy = TARGET.layer_cost(ConvLayers.from_rows([]))
    assert lat.shape == energy.shape == (0,)


def test_perf_factor_fusion_rule():
    # [BF] Sec. 3: int(8/max(a,2)) * int(8/max(w,2)); 6-bit runs at 8-bit speed.
    w = np.array([8, 6, 4, 2, 1, 4, 6])
    a = np.array([8, 6, 4, 2, 1, 8, 4])
    assert bf.perf_factor(w, a).tolist() == [1, 1, 4, 16, 16, 2, 2]


def test_six_bit_compute_equals_eight_bit():
    rows = [(256, 128, 14, 1, 1, 1), (144, 144, 56, 3, 1, 144), (32, 64, 28, 3, 2, 1)]
    compute = {}
    for w, a in [(8, 8), (6, 6), (6, 8), (8, 6)]:
        layers = ConvLayers.from_rows([r + (w, a) for r in rows])
        compute[(w, a)] = bf.layer_stats(layers)["compute"]
    for pair in [(6, 6), (6, 8), (8, 6)]:
        np.testing.assert_array_equal(compute[pair], compute[(8, 8)])
    # ... while traffic (hence latency/energy) still shrinks a little with the narrower words.
    l8, e8 = TARGET.layer_cost(ConvLayers.from_rows([r + (8, 8) for r in rows]))
    l6, e6 = TARGET.layer_cost(ConvLayers.from_rows([r + (6, 6) for r in rows]))
    assert np.all(l6 <= l8) and np.all(e6 < e8)


@pytest.mark.parametrize("shape", [(256, 256, 7, 3, 1, 1)])
def test_two_bit_bricks_divide_compute_cycles(shape):
    """An 8x8 Fusion Unit fuses 16 2x2 BitBricks: W2A2 runs 16 MACs per cycle, W2A8 and W8A2 4, W2A4 8."""
    pairs = [(8, 8), (2, 2), (2, 8), (8, 2), (2, 4), (4, 4), (1, 1)]
    s = bf.layer_stats(ConvLayers.from_rows([shape + pair for pair in pairs]))
    compute = dict(zip(pairs, s["compute"]))
    assert s["cycles"][0] <= 1.02 * compute[(8, 8)]  # compute bound at W8A8
    assert compute[(8, 8)] / compute[(2, 2)] == 16
    assert compute[(8, 8)] / compute[(2, 8)] == compute[(8, 8)] / compute[(8, 2)] == 4
    assert compute[(8, 8)] / compute[(2, 4)] == 8 and compute[(8, 8)] / compute[(4, 4)] == 4
    assert compute[(1, 1)] == compute[(2, 2)]  # a 1-bit operand still occupies a 2-bit brick


def test_fmnist_costs_every_two_bit_option_and_two_bits_is_cheapest():
    table = CostTable(create_space("fmnist"), TARGET)
    assert np.isfinite(table.pointwise).all() and np.isfinite(table.depthwise).all()
    latency = table.pointwise[..., 0]  # (block, mid, w index, a index), bits (2, 4, 6, 8)
    assert (np.diff(latency, axis=2) >= 0).all() and (np.diff(latency, axis=3) >= 0).all()
    assert (latency[:, :, 0, 0] < latency[:, :, 1, 1]).any()


def test_memory_bound_pointwise_hand_computed():
    # 24 -> 112 channels at 56x56, W8A8. Compute: ceil(112/32)=4 column passes x 3136 pixels
    # x ceil(24/16)=2 row passes = 25088 cycles. DRAM bits: weights 24*112*8 = 21504, inputs
    # 24*56^2*8 = 602112, 32-bit partial sums read and written 2*112*56^2*32 = 22478848;
    # 23102464 bits / 192 per cycle = 120325.3 cycles >> compute: memory bound.
    layers = ConvLayers.from_rows([(24, 112, 56, 1, 1, 1, 8, 8)])
    s = bf.layer_stats(layers)
    assert s["compute"][0] == 4 * 3136 * 2
    assert s["dram"][0] == 21504 + 602112 + 22478848
    assert 120325 <= s["cycles"][0] <= 120325 + 2  # per-phase rounding up of cycles
    lat, _ = TARGET.layer_cost(layers)
    assert lat[0] == pytest.approx(s["cycles"][0] / 500e6 * 1e3)
    # Output traffic does not shrink with bits: W4A4 only slightly faster than W8A8.
    lat4, _ = TARGET.layer_cost(ConvLayers.from_rows([(24, 112, 56, 1, 1, 1, 4, 4)]))
    assert 0.9 < lat4[0] / lat[0] < 1.0


def test_compute_bound_depthwise_hand_computed():
    # 96-channel 7x7 depthwise at 56x56, stride 1, W8A8: ceil(96/8) = 12 groups of 8 channels,
    # each ceil(8/32) * 56^2 pixels * 49 taps * ceil(8/16) = 153664 cycles -> 1843968 cycles;
    # its DRAM traffic (~2.4e7 bits = 1.3e5 cycles) hides under compute.
    layers = ConvLayers.from_rows([(96, 96, 56, 7, 1, 96, 8, 8)])
    s = bf.layer_stats(layers)
    assert s["compute"][0] == 12 * 56 * 56 * 49
    assert s["compute"][0] <= s["cycles"][0] <= 1.01 * s["compute"][0]
    # At W4A4, 32 channels per group: ceil(96/32) = 3 groups -> 4x less compute.
    s4 = bf.layer_stats(ConvLayers.from_rows([(96, 96, 56, 7, 1, 96, 4, 4)]))
    assert s4["compute"][0] == 3 * 56 * 56 * 49


shapes = st.one_of(
    # pointwise
    st.tuples(st.integers(8, 1200), st.integers(8, 1200), st.sampled_from([7, 14, 28, 56]),
              st.just(1), st.just(1)).map(lambda t: t + (1,)),
    # depthwise
    st.tuples(st.integers(8, 1200), st.sampled_from([7, 14, 28, 56, 112]),
              st.sampled_from([3, 5, 7]), st.sampled_from([1, 2]))
    .map(lambda t: (t[0], t[0], t[1], t[2], t[3], t[0])),
    # dense kxk
    st.tuples(st.integers(3, 96), st.integers(8, 96), st.sampled_from([14, 28, 56]),
              st.sampled_from([3, 5]), st.sampled_from([1, 2])).map(lambda t: t + (1,)),
)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, other=st.integers(2, 8))
def test_monotone_in_bits(shape, other):
    bits = np.arange(2, 9)
    n = bits.size
    for vary_w in (True, False):
        w = bits if vary_w else np.full(n, other)
        a = np.full(n, other) if vary_w else bits
        cols = [np.full(n, v) for v in shape]
        layers = ConvLayers(*cols, w, a)
        lat, energy = TARGET.layer_cost(layers)
        assert np.all(np.diff(lat) >= -1e-12), (shape, vary_w, lat)
        assert np.all(np.diff(energy) >= -1e-12), (shape, vary_w, energy)


def test_forbidden_choice_declared():
    (rule,) = bf.BitFusionTarget.forbidden
    assert (rule.gene_a, rule.value_a, rule.gene_b, rule.value_b) == ("kernel", 7, "dw_a", 4)


def test_spearman_matches_definition():
    assert rankdata([10, 20, 20, 5]).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties: Pearson of average ranks ([1, 2.5, 2.5, 4] vs [1, 2, 3, 4]).
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486832980505138)


def test_calibrated_model_reproduces_apq_table():
    report = fit_report(TARGET, load_reference(APQ_BITFUSION_TABLE))
    for measure in ("latency", "energy"):
        for pair in ("W8A8", "W4A4"):
            m = report["in_sample"][measure][pair]
            assert m["spearman"] >= 0.97, (measure, pair, m)
            assert m["median_abs_rel_err"] <= 0.10, (measure, pair, m)
        held = report["held_out"][measure]["W4A4"]
        assert held["spearman"] >= 0.97 and held["median_abs_rel_err"] <= 0.10, (measure, held)
