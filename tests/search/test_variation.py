"""Variation with frozen genes: always valid, the freeze always holds, mutation is per block."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apq.hardware.target import create_target
from apq.search.methods import bit_columns, bit_index, frozen_columns
from apq.space.genome import Rules
from apq.space.registry import create_space
from apq.space.space import BIT_GENES, BLOCK_GENES
from apq.search.variation import Variation

SPACE = create_space("imagenet-apq")
RULES = Rules(SPACE, create_target("bitfusion").forbidden)


def w4a4() -> Variation:
    return Variation(SPACE, RULES, bit_columns(SPACE, 4))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), block_prob=st.floats(0.01, 1.0), genes=st.integers(1, 6))
def test_operators_keep_genomes_valid_and_the_freeze(seed, block_prob, genes):
    rng = np.random.default_rng(seed)
    variation = w4a4()
    parents = variation.sample(30, rng)
    children = np.concatenate([variation.mutate(parents, rng, block_prob, genes),
                               variation.crossover(parents, parents[::-1], rng)])
    for genomes in (parents, children):
        assert RULES.is_valid(genomes).all()
        np.testing.assert_array_equal(genomes[:, variation.frozen_cols], np.broadcast_to(variation.frozen_values, (len(genomes), len(variation.frozen_cols))))
    # dw_a is frozen at 4 bits, so BitFusion's rule must have been met by re-drawing the kernel
    assert not np.any(SPACE.values(children, "kernel") == 7)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), genes=st.integers(1, 6))
def test_mutation_changes_at_most_the_chosen_genes_of_hit_blocks(seed, genes):
    rng = np.random.default_rng(seed)
    variation = Variation(SPACE, Rules(SPACE))  # no rules: no repair can touch other genes
    parents = variation.sample(200, rng)
    children = variation.mutate(parents, rng, 0.1, genes)
    changed = children != parents
    per_block = np.stack([changed[:, SPACE.slices[g]] for g in BLOCK_GENES], axis=2)  # (N, B, 6)
    assert per_block.sum(axis=2).max() <= genes
    assert changed.mean() < 0.1 * genes / len(BLOCK_GENES) * 1.5 + 0.02


def test_frozen_genes_that_break_a_rule_are_refused():
    frozen = {**frozen_columns(SPACE, ("kernel",), 2), **frozen_columns(SPACE, ("dw_a",), 0)}  # 7x7 at A4
    with pytest.raises(ValueError, match="forbids"):
        Variation(SPACE, RULES, frozen)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), genes=st.integers(1, 6))
def test_floored_bits_stay_at_or_above_their_floor_and_cover_it(seed, genes):
    """fmnist (bits 2, 4, 6, 8) on BitFusion with every bit at 4 or wider: valid, never 2-bit,
    and 4, 6 and 8 all drawn (the floor re-draws uniformly above it)."""
    space = create_space("fmnist")
    rules = Rules(space, create_target("bitfusion").forbidden)
    floor = bit_index(space, 4)
    variation = Variation(space, rules, floors=bit_columns(space, 4))
    rng = np.random.default_rng(seed)
    parents = variation.sample(40, rng)
    children = np.concatenate([variation.mutate(parents, rng, 0.5, genes),
                               variation.crossover(parents, parents[::-1], rng)])
    bits = np.concatenate([np.r_[space.slices[g]] for g in BIT_GENES])
    for genomes in (parents, children):
        assert rules.is_valid(genomes).all()
        assert genomes[:, bits].min() >= floor
    assert set(np.unique(parents[:, bits])) == set(range(floor, len(space.bit_choices)))


def test_floors_that_leave_no_choice_or_undercut_a_freeze_are_refused():
    space = create_space("fmnist")
    with pytest.raises(ValueError, match="no choice"):
        Variation(space, Rules(space), floors=frozen_columns(space, ("kernel",), 3))
    with pytest.raises(ValueError, match="below its floor"):
        Variation(space, Rules(space), frozen_columns(space, ("dw_a",), 0), frozen_columns(space, ("dw_a",), 1))
