"""The one loop: budgets, the candidate log, and the three selections plugged into it."""
import numpy as np
import pytest

from apq.search.constraint import Constraint
from apq.search.evolution import evolve
from apq.search.problem import Problem
from apq.search.selection import GA, RANDOM, Nsga2, select_feasible_best
from apq.search.variation import Variation
from tests.helpers.search import small_config
from tests.helpers.search import batch


def test_selection_is_feasible_first_and_counts_copies_once():
    b = batch([70, 95, 80, 80, 99, 60], [1, 1, 2, 2, 1, 1], violation=[0, 0, 0, 0, 0.5, 0.1])
    chosen = select_feasible_best(b, 4)
    np.testing.assert_array_equal(chosen.acc, [95, 80, 70, 60])  # the copy of (80, 2 ms) counts once
    np.testing.assert_array_equal(select_feasible_best(b, 6).acc, [95, 80, 70, 60, 99])


@pytest.fixture
def loop(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", 3.0))
    return problem, Variation(table.space, rules)


@pytest.mark.parametrize("selection", [GA, RANDOM, Nsga2()], ids=["ga", "random", "nsga2"])
@pytest.mark.parametrize("budget", [25, 40, 137])
def test_the_loop_spends_exactly_a_budget_and_logs_every_candidate(loop, selection, budget):
    problem, variation = loop
    config = small_config()  # population 40, 40 children per generation
    run = evolve(problem, variation, selection, config, 0, budget)
    rest = max(budget - 40, 0)
    sizes = [min(40, budget)] + [40] * (rest // 40) + ([rest % 40] if rest % 40 else [])
    assert run.queries == len(run.candidates) == problem.queries == budget
    assert run.logbook.select("nevals") == sizes
    assert np.bincount(run.candidates.generations()).tolist() == sizes
    everything = run.candidates.batch()
    assert everything.genomes.dtype == np.uint8 and problem.rules.is_valid(everything.genomes.astype(np.int64)).all()
    np.testing.assert_array_equal(problem.evaluate(everything.genomes.astype(np.int64)).acc, everything.acc)
    assert run.front.feasible.all()
    if selection is not RANDOM:
        feasible = everything.take(everything.feasible)
        assert run.front.acc.max() == feasible.acc.max()


def test_the_selections_differ_only_in_who_breeds_and_survives(loop):
    problem, variation = loop
    config = small_config(generations=5)
    ga, random, nsga = (evolve(problem, variation, s, config, 3) for s in (GA, RANDOM, Nsga2()))
    seeds = [r.candidates.batch().take(r.candidates.generations() == 0) for r in (ga, random, nsga)]
    for other in seeds[1:]:  # one seed population: the loop, not the selection, draws it
        np.testing.assert_array_equal(seeds[0].genomes, other.genomes)
    # the last populations, ranked: GA parents + children and random best + fresh genomes (copies
    # counted once), NSGA-II's survivors
    assert config.n_parents < len(ga.population) <= config.n_parents + config.children
    assert 1 < len(random.population) <= 1 + config.children
    assert len(nsga.population) == config.population
    assert random.population.acc[0] == random.candidates.batch().take(random.candidates.batch().feasible).acc.max()
