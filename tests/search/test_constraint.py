"""Constraint resolution: exact feasible ranges, refused limits, the default budget."""
import math

import numpy as np
import pytest

from apq.errors import UserError
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.search.constraint import cost_bounds, default_limit, resolve_constraint
from apq.space.config import StageConfig
from apq.space.genome import Rules, sample
from apq.space.registry import create_space
from tests.helpers.search import all_genomes, tiny_space


@pytest.mark.parametrize("metric", ["latency_ms", "energy_mj", "bitops"])
def test_cost_bounds_equal_the_enumerated_extremes(metric):
    space, target = tiny_space(), create_target("bitfusion")
    table = CostTable(space, target)
    costs = table.evaluate(all_genomes(space)).metric(metric)
    low, high = cost_bounds(table, Rules(space, target.forbidden), metric)
    assert low == pytest.approx(costs.min()) and high == pytest.approx(costs.max())


def test_cost_bounds_skip_combinations_the_target_forbids():
    """BitFusion forbids 7x7 depthwise at 4-bit activations; with only 7x7 kernels the cheapest valid
    genome must use 8-bit depthwise activations, dearer than the forbidden all-4-bit one."""
    space, target = tiny_space(kernels=(7,), stages=(StageConfig(8, 1, (1, 2)),)), create_target("bitfusion")
    table, rules = CostTable(space, target, strict=False), Rules(space, target.forbidden)
    genomes = all_genomes(space)
    valid = rules.is_valid(genomes)
    assert 0 < valid.sum() < len(genomes)
    for metric in ("latency_ms", "energy_mj"):
        costs = table.evaluate(genomes[valid]).metric(metric)
        assert cost_bounds(table, rules, metric) == pytest.approx((costs.min(), costs.max()))


def test_default_limit_is_the_median_of_random_genomes():
    space, target = create_space("fmnist"), create_target("fpga")
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    limit = default_limit(table, rules, "latency_ms", 400, seed=3)
    again = np.median(table.evaluate(sample(space, 400, np.random.default_rng(3), rules)).latency_ms)
    assert limit == pytest.approx(again)
    constraint = resolve_constraint(table, rules, None, None, 400, 3)
    assert constraint.limit == pytest.approx(limit) and constraint.source.startswith("default")


@pytest.mark.parametrize("latency,energy,words", [
    (-1.0, None, ["--latency -1", "infeasible"]),
    (math.nan, None, ["--latency nan"]),
    (math.inf, None, ["--latency inf"]),
    (0.0, None, ["--latency 0"]),
    (1e-4, None, ["at least"]),
    (None, 1e-5, ["--energy", "mJ"]),
    (5.0, 5.0, ["either --latency or --energy"]),
])
def test_nonsense_limits_are_refused_with_the_feasible_range(latency, energy, words):
    space, target = create_space("fmnist"), create_target("fpga")
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    with pytest.raises(UserError) as err:
        resolve_constraint(table, rules, latency, energy, 100, 0)
    for word in words:
        assert word in str(err.value)
    if latency is not None and energy is None:
        low, high = cost_bounds(table, rules, "latency_ms")
        assert f"{low:.6g} to {high:.6g} ms" in str(err.value)


def test_a_limit_at_the_cheapest_genome_is_accepted():
    space, target = create_space("fmnist"), create_target("fpga")
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    low, _ = cost_bounds(table, rules, "energy_mj")
    constraint = resolve_constraint(table, rules, None, low, 100, 0)
    assert (constraint.metric, constraint.limit, constraint.source) == ("energy_mj", low, "user")
