"""NSGA-II (the loop with the NSGA-II selection): a non-dominated, feasible front; feasibility-first survival."""
import numpy as np

from apq.search.constraint import Constraint
from apq.search.evolution import evolve
from apq.search.pareto import minimisation_points, non_dominated
from apq.search.problem import Problem
from apq.search.selection import Nsga2, select_nsga2
from apq.search.variation import Variation
from tests.helpers.search import small_config
from tests.helpers.search import batch


def test_survivors_are_feasible_first_then_least_violating():
    b = batch([90, 50, 60, 99, 98], [1, 2, 3, 4, 5], violation=[0, 0, 2.0, 1.0, 3.0])
    survivors = select_nsga2(b, 3, ("latency_ms",))
    np.testing.assert_array_equal(survivors.acc, [90, 50, 99])


def test_with_enough_feasible_rows_only_feasible_ones_survive_by_rank():
    b = batch([90, 80, 70, 60, 99], [1, 2, 3, 0.5, 0.1], violation=[0, 0, 0, 0, 1.0])
    survivors = select_nsga2(b, 2, ("latency_ms",))
    assert survivors.feasible.all()
    assert set(survivors.acc) == {90, 60}  # the first front: (90, 1 ms) and (60, 0.5 ms)


def test_a_tie_on_the_last_front_is_broken_by_crowding_distance():
    # one front of five points; the two extremes have infinite crowding distance, then (80, 2)
    # is the most isolated of the three inner points
    b = batch([95, 90, 80, 71, 70], [5, 4.9, 2, 1.1, 1])
    survivors = select_nsga2(b, 3, ("latency_ms",))
    assert set(survivors.acc) == {95, 80, 70}


def test_front_is_non_dominated_feasible_and_spans_the_costs(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    limit = 2.0
    problem = Problem(table, fmnist_predictor, Constraint("energy_mj", limit))
    costs = ("latency_ms", "energy_mj")
    run = evolve(problem, Variation(table.space, rules), Nsga2(costs), small_config(), 0, costs=costs)
    population, logbook = run.population, run.logbook
    assert population.feasible.all() and (population.energy_mj <= limit).all()
    front = population.take(non_dominated(minimisation_points(population, costs)))
    assert len(front) >= 5
    points = minimisation_points(front, costs)
    for p in points:  # no member is dominated by another
        assert not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))
    assert logbook.select("hypervolume")[-1] >= logbook.select("hypervolume")[0] > 0
    archived = minimisation_points(run.front, costs)  # the archive's front: non-dominated too
    assert non_dominated(archived).all() and len(run.front) >= len(front)
