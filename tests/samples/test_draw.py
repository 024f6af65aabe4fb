"""Which sub-net sample i is: shared architectures, uniform bits, cost-stratified draws, MACs."""
import numpy as np
import pytest

from apq.samples.draw import MacsTable, architecture_seed, draw_architecture, sample_genome, sample_seed
from apq.space.genome import sample
from apq.space.layers import ConvLayers
from apq.space.registry import create_space
from apq.space.space import BIT_GENES

SPACE = create_space("fmnist")
ARCH = np.concatenate([np.arange(SPACE.n_genes)[SPACE.slices[g]] for g in ("depth", "kernel", "mid")])
BITS = np.concatenate([np.arange(SPACE.n_genes)[SPACE.slices[g]] for g in BIT_GENES])


def macs_by_hand(genome: np.ndarray) -> float:
    """MACs of one genome from its layers, written out block by block."""
    rows = []
    active = SPACE.active_blocks(genome[None])[0]
    kernels, mids = SPACE.values(genome[None], "kernel")[0], SPACE.values(genome[None], "mid")[0]
    for b, block in enumerate(SPACE.blocks):
        if active[b]:
            k, mid = kernels[b], mids[b]
            rows += [(block.cin, mid, block.in_size, 1, 1, 1, 8, 8), (mid, mid, block.in_size, k, block.stride, mid, 8, 8),
                     (mid, block.cout, block.out_size, 1, 1, 1, 8, 8)]
    fixed = SPACE.head_layers().macs.sum() + SPACE.tail_layers().macs.sum()
    return float(ConvLayers.from_rows(rows).macs.sum() + fixed)


def test_macs_table_matches_the_layers_and_its_extremes():
    table = MacsTable(SPACE)
    genomes = sample(SPACE, 20, np.random.default_rng(0))
    np.testing.assert_allclose(table.evaluate(genomes), [macs_by_hand(g) for g in genomes])
    smallest, largest = np.zeros(SPACE.n_genes, dtype=np.int64), SPACE.cardinality - 1
    assert table.extremes() == pytest.approx((macs_by_hand(smallest), macs_by_hand(largest)))
    flipped = genomes.copy()
    flipped[:, BITS] = (flipped[:, BITS] + 1) % len(SPACE.bit_choices)
    np.testing.assert_array_equal(table.evaluate(flipped), table.evaluate(genomes))  # bits play no part


def test_sample_i_shares_its_architecture_across_kinds_and_draws_its_bits_per_kind():
    fp32, quant = (np.stack([sample_genome(SPACE, 0, kind, i) for i in range(30)]) for kind in ("fp32", "quant"))
    np.testing.assert_array_equal(fp32[:, ARCH], quant[:, ARCH])
    assert (fp32[:, BITS] != quant[:, BITS]).any(axis=1).all()
    np.testing.assert_array_equal(quant[7], sample_genome(SPACE, 0, "quant", 7))  # a function of (seed, kind, i)
    assert not np.array_equal(sample_genome(SPACE, 1, "quant", 7)[ARCH], quant[7, ARCH])
    assert len({architecture_seed(0, i) for i in range(30)} | {sample_seed(0, k, i) for k in ("fp32", "quant")
                                                                for i in range(30)}) == 90
    assert ((quant >= 0) & (quant < SPACE.cardinality)).all()


def test_bits_of_quantized_samples_are_uniform_per_layer():
    quant = np.stack([sample_genome(SPACE, 0, "quant", i) for i in range(600)])
    counts = np.stack([(quant[:, BITS] == c).sum(axis=0) for c in range(len(SPACE.bit_choices))])
    expected = len(quant) / len(SPACE.bit_choices)
    assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected  # binomial sd ~ 0.07 expected


def test_cost_stratified_draws_spread_evenly_over_the_cost_range():
    table = MacsTable(SPACE)
    low, high = table.extremes()
    position = {draw: (table.evaluate(np.stack([draw_architecture(SPACE, architecture_seed(0, i), draw)
                                                for i in range(400)])) - low) / (high - low)
                for draw in ("uniform", "cost_stratified")}
    stratified = np.histogram(position["cost_stratified"], bins=10, range=(0, 1))[0]
    assert stratified.min() >= 20 and stratified.max() <= 65  # 40 per tenth expected
    assert position["uniform"].max() < 0.8  # uniform genomes never reach the top of the range
    assert position["cost_stratified"].std() > 1.5 * position["uniform"].std()
    with pytest.raises(ValueError, match="draw must be one of"):
        draw_architecture(SPACE, 0, "sorted")
