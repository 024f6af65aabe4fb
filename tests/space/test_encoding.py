"""One-hot encoding: APQ conformance, skipped blocks, dimensions."""
import numpy as np
from hypothesis import given, settings, strategies as st

from apq.space.encoding import Encoder
from apq.space.genome import mutate, sample
from apq.space.registry import create_space
from apq.space.spec import encode_spec
from tests.helpers.reference import reference_json


def test_apq_dimensions(apq_space):
    enc = Encoder(apq_space)
    assert (enc.dim, enc.fp32_dim) == (772, 520)


def test_apq_reference_vectors_reproduced_exactly(apq_space):
    enc = Encoder(apq_space)
    vectors = reference_json("apq_space_vectors.json")["encoding"]
    assert len(vectors) == 40
    genomes = np.stack([encode_spec(apq_space, v["spec"]) for v in vectors])
    encoded = enc.encode(genomes)
    for row, vector in zip(encoded, vectors):
        assert vector["dim"] == enc.dim and vector["fp32_dim"] == enc.fp32_dim
        assert np.flatnonzero(row).tolist() == vector["one_hot_indices"]


def test_fp32_part_is_prefix(space):
    enc = Encoder(space)
    genomes = sample(space, 50, np.random.default_rng(0))
    assert np.array_equal(enc.encode(genomes, quant=False), enc.encode(genomes)[:, : enc.fp32_dim])


def test_one_hot_counts(space):
    enc = Encoder(space)
    genomes = sample(space, 200, np.random.default_rng(0))
    x = enc.encode(genomes)
    active = space.active_blocks(genomes).sum(1)
    assert np.array_equal(x.sum(1), 6 * active)  # kernel, mid and 4 bit one-hots per active block


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31))
def test_skipped_block_genes_do_not_change_encoding(seed):
    space = create_space("imagenet-apq")
    rng = np.random.default_rng(seed)
    genomes = sample(space, 8, rng)
    mutated = mutate(space, genomes, rng, 1.0)
    # keep depths and every active block's genes; only skipped blocks differ
    active = space.active_blocks(genomes)
    mutated[:, space.slices["depth"]] = genomes[:, space.slices["depth"]]
    for gene in ("kernel", "mid", "pw_w", "pw_a", "dw_w", "dw_a"):
        cols = mutated[:, space.slices[gene]]
        cols[active] = genomes[:, space.slices[gene]][active]
        mutated[:, space.slices[gene]] = cols
    enc = Encoder(space)
    assert np.array_equal(enc.encode(genomes), enc.encode(mutated))


def test_hot_indices_mark_exactly_the_ones_of_encode(space):
    enc = Encoder(space)
    genomes = sample(space, 64, np.random.default_rng(3))
    for quant in (True, False):
        hot = enc.hot_indices(genomes, quant)
        dense = np.zeros((len(genomes), hot.dim), dtype=np.float32)
        rows = np.arange(len(genomes))[:, None]
        np.add.at(dense, (rows, hot.fp32_cols), hot.fp32_on)
        np.add.at(dense, (rows, enc.fp32_dim + hot.bit_cols), hot.bit_on)
        assert np.array_equal(dense, enc.encode(genomes, quant))  # add.at: a column set twice would show as 2
        assert hot.bit_cols.shape[1] == (4 * space.n_blocks if quant else 0)
