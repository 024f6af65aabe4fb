"""Network cost composition: hand-computed sums and APQ's reference cost vectors."""
import numpy as np
import pytest

from apq.errors import UserError
from apq.hardware.calibration import APQ_BITFUSION_TABLE
from apq.hardware.cost import CostTable
from apq.hardware.lut import load_lut_target
from apq.space.genome import sample
from apq.space.spec import encode_spec
from tests.helpers.hardware import MacTarget, tiny_space
from tests.helpers.reference import reference_json


def test_hand_computed_network_cost():
    space, target = tiny_space(), MacTarget()
    table = CostTable(space, target)
    # depth 1 (one block), kernel 5, mid 12 (index 1 of 8,12,16), pw W8A4, dw W4A8
    genome = np.zeros(space.n_genes, np.int64)
    genome[space.slices["kernel"].start] = 1
    genome[space.slices["mid"].start] = 1
    genome[space.slices["pw_w"].start] = 1
    genome[space.slices["dw_a"].start] = 1
    c = table.evaluate(genome[None])
    expand = 4 * 12 * 8 * 8            # cin 4 -> mid 12 at 8x8
    dw = 12 * 4 * 4 * 25               # 5x5 depthwise, stride 2 -> 4x4
    project = 12 * 8 * 4 * 4           # mid 12 -> cout 8 at 4x4
    fixed_lat = (space.head_layers().macs.sum() + space.tail_layers().macs.sum()) * 1e-6
    expected = (expand + project) * 1e-6 * 4 / 8 + dw * 1e-6 * 8 / 8 + fixed_lat
    assert c.latency_ms[0] == pytest.approx(expected)
    energy = (4 * 12 + 12 * 8) * 8 * 1e-9 + 12 * 25 * 4 * 1e-9
    fixed_energy = (space.head_layers().weight_count.sum() + space.tail_layers().weight_count.sum()) * 8e-9
    assert c.energy_mj[0] == pytest.approx(energy + fixed_energy)
    assert c.bitops[0] == pytest.approx((expand + project) * 32 + dw * 32 +
                                        space.head_layers().bitops.sum() + space.tail_layers().bitops.sum())


def test_skipped_block_costs_nothing():
    space = tiny_space()
    table = CostTable(space, MacTarget())
    g = sample(space, 64, np.random.default_rng(0))
    g[:, space.slices["depth"]] = 0
    other = g.copy()
    other[:, space.slices["kernel"].start + 1] ^= 1  # change the skipped second block
    assert np.array_equal(table.evaluate(g).latency_ms, table.evaluate(other).latency_ms)


def test_apq_reference_costs_reproduced(apq_space):
    target = load_lut_target(APQ_BITFUSION_TABLE)
    table = CostTable(apq_space, target, strict=False)
    vectors = reference_json("apq_space_vectors.json")["cost"]
    genomes = np.stack([encode_spec(apq_space, v["spec"]) for v in vectors])
    costs = table.evaluate(genomes)
    np.testing.assert_allclose(costs.latency_ms, [v["latency_ms"] for v in vectors], rtol=0, atol=1e-9)
    np.testing.assert_allclose(costs.energy_mj, [v["energy_mj"] for v in vectors], rtol=0, atol=1e-9)


def test_partial_table_refused_in_strict_mode(apq_space):
    target = load_lut_target(APQ_BITFUSION_TABLE)  # only W8A8 and W4A4
    with pytest.raises(UserError, match="missing"):
        CostTable(apq_space, target)
