"""Per-layer sensitivity scan: its probes, its measurements and the prior's layout over the encoding."""
import numpy as np
import pytest
import torch

from apq.quant.config import get_quant_config
from apq.quant.sensitivity import largest_genome, prior_weights, probe_genomes, scan
from apq.space.encoding import Encoder
from apq.space.genome import Rules
from apq.space.space import BIT_GENES

CONFIG = get_quant_config("smoke").override(channels_last=False)


def test_probes_change_one_bit_gene_of_the_largest_genome_each(fmnist):
    base = largest_genome(fmnist)
    assert Rules(fmnist).is_valid(base[None]).all() and fmnist.active_blocks(base[None]).all()
    genomes, where = probe_genomes(fmnist)
    assert len(genomes) == fmnist.n_blocks * len(BIT_GENES) * (len(fmnist.bit_choices) - 1) == len(where)
    changed = np.argwhere(genomes != base)
    assert np.array_equal(changed[:, 0], np.arange(len(genomes)))  # exactly one gene per probe
    for (row, col), (block, g, choice) in zip(changed, where):
        assert col == fmnist.slices[BIT_GENES[g]].start + block and genomes[row, col] == choice
    assert len({tuple(w) for w in where}) == len(where)


def test_scan_measures_the_probes_on_the_validation_split(fmnist, supernet, tiny_data):
    """2-bit pointwise weights and activations of the first and last block (a random supernet: the
    accuracies are noise, but each is a measured multiple of 1/16 and lands where its probe says)."""
    _, where = probe_genomes(fmnist)
    two = int(np.argmin(fmnist.bit_choices))
    probes = np.flatnonzero(np.isin(where[:, 0], [0, fmnist.n_blocks - 1]) & (where[:, 1] < 2) & (where[:, 2] == two))
    result = scan(supernet, tiny_data, CONFIG, probes)
    drop = result["drop"]
    assert drop.shape == (fmnist.n_blocks, len(BIT_GENES), len(fmnist.bit_choices)) and result["images"] == 16
    assert len(probes) == 4 and np.all(np.isfinite(drop)) and 0 <= result["base_acc"] <= 100
    assert np.allclose(np.round(drop * 16 / 100), drop * 16 / 100)
    unprobed = np.ones(drop.shape, bool)
    unprobed[tuple(where[probes].T)] = False
    assert np.all(drop[unprobed] == 0) and np.any(drop[~unprobed] != 0)


def test_a_scan_repeats_exactly_whatever_ran_before_it(fmnist, supernet, tiny_data):
    """The activation-range calibration subsamples at random: the scan seeds it, so the global torch
    generator's state (what the process did before) does not change the drops."""
    _, where = probe_genomes(fmnist)
    probes = np.flatnonzero((where[:, 0] == 0) & (where[:, 1] == 1))  # block 0's activations
    drops = []
    for state in (1, 2):
        torch.manual_seed(state)
        drops.append(scan(supernet, tiny_data, CONFIG, probes, seed=3)["drop"])
    assert np.array_equal(drops[0], drops[1])


def test_prior_weights_sum_the_active_blocks_probe_drops(fmnist):
    rng = np.random.default_rng(0)
    drop = rng.uniform(0, 5, (fmnist.n_blocks, len(BIT_GENES), len(fmnist.bit_choices)))
    weights = prior_weights(fmnist, drop)
    encoder = Encoder(fmnist)
    genomes, _ = probe_genomes(fmnist)
    genomes = genomes[rng.choice(len(genomes), 5)]
    genomes[:, fmnist.slices["depth"]] = 0  # shallowest: some blocks skipped
    active = fmnist.active_blocks(genomes)
    expected = [sum(drop[b, g, genomes[n, fmnist.slices[gene].start + b]] for g, gene in enumerate(BIT_GENES)
                    for b in range(fmnist.n_blocks) if active[n, b]) for n in range(len(genomes))]
    assert np.allclose(encoder.encode(genomes)[:, encoder.fp32_dim:] @ weights, expected, atol=1e-4)
    with pytest.raises(ValueError, match="needs"):
        prior_weights(fmnist, drop[:, :2])
