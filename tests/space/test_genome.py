"""Property tests of the genome operators: every output is a valid genome."""
import numpy as np
from hypothesis import given, settings, strategies as st

from apq.space.genome import ForbiddenChoice
from apq.space.genome import Rules, crossover, mutate, sample
from apq.space.registry import create_space, space_names

RULE = ForbiddenChoice("kernel", 7, "dw_a", 4, "test rule")
spaces = st.sampled_from(space_names()).map(create_space)
seeds = st.integers(0, 2**32 - 1)


def _violations(space, genomes):
    k = space.values(genomes, "kernel")
    a = space.values(genomes, "dw_a")
    return int(((k == 7) & (a == 4)).sum())


@settings(max_examples=30, deadline=None)
@given(space=spaces, seed=seeds, n=st.integers(1, 64))
def test_sampled_genomes_are_valid(space, seed, n):
    rules = Rules(space, (RULE,))
    genomes = sample(space, n, np.random.default_rng(seed), rules)
    assert genomes.shape == (n, space.n_genes)
    assert rules.is_valid(genomes).all()
    assert _violations(space, genomes) == 0


@settings(max_examples=30, deadline=None)
@given(space=spaces, seed=seeds, prob=st.floats(0, 1))
def test_mutated_genomes_are_valid(space, seed, prob):
    rng = np.random.default_rng(seed)
    rules = Rules(space, (RULE,))
    parents = sample(space, 16, rng, rules)
    children = mutate(space, parents, rng, prob, rules)
    assert rules.is_valid(children).all()
    if prob == 0:
        assert np.array_equal(children, parents)


@settings(max_examples=30, deadline=None)
@given(space=spaces, seed=seeds)
def test_crossover_children_are_valid_and_inherit(space, seed):
    rng = np.random.default_rng(seed)
    rules = Rules(space, (RULE,))
    a, b = sample(space, 16, rng, rules), sample(space, 16, rng, rules)
    assert rules.is_valid(crossover(a, b, rng, rules)).all()
    child = crossover(a, b, rng)  # without rules nothing is repaired: every gene is inherited
    assert np.all((child == a) | (child == b))


def test_mutation_rate_matches_probability():
    space = create_space("imagenet-apq")
    rng = np.random.default_rng(0)
    parents = sample(space, 2000, rng)
    changed = mutate(space, parents, rng, 0.1) != parents
    # a re-drawn gene may land on its old value: expected change rate is 0.1 * (1 - 1/cardinality)
    expected = 0.1 * np.mean(1 - 1 / space.cardinality)
    assert abs(changed.mean() - expected) < 0.01


def test_sampling_is_uniform_over_valid_block_pairs():
    space = create_space("fmnist")
    rules = Rules(space, (RULE,))
    genomes = sample(space, 20000, np.random.default_rng(1), rules)
    k, a = space.values(genomes, "kernel")[:, 0], space.values(genomes, "dw_a")[:, 0]
    pairs = [(kk, aa) for kk in (3, 5, 7) for aa in (2, 4, 6, 8) if (kk, aa) != (7, 4)]
    freq = np.array([np.mean((k == kk) & (a == aa)) for kk, aa in pairs])
    assert np.allclose(freq, 1 / 11, atol=0.01)  # 11 valid (kernel, dw_a) pairs, each 1/11


def test_rules_reject_out_of_range_and_forbidden():
    space = create_space("fmnist")
    rules = Rules(space, (RULE,))
    genome = sample(space, 1, np.random.default_rng(0), rules)
    bad = genome.copy()
    bad[0, space.slices["mid"].start] = space.cardinality[space.slices["mid"].start]
    assert not rules.is_valid(bad)[0]
    bad = genome.copy()
    bad[0, space.slices["kernel"].start] = 2  # kernel 7
    bad[0, space.slices["dw_a"].start] = int(np.flatnonzero(space.bit_choices == 4)[0])
    assert not rules.is_valid(bad)[0]
    assert rules.is_valid(rules.repair(bad, np.random.default_rng(0)))[0]


def test_rule_on_absent_value_is_ignored():
    space = create_space("fmnist")
    rules = Rules(space, (ForbiddenChoice("kernel", 9, "dw_a", 4, "no 9x9 here"),))
    assert rules.compiled == ()
