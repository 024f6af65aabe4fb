"""NSGA-II: a non-dominated, feasible front; feasibility-first survival."""
import numpy as np

from apq.search import nsga2
from apq.search.constraint import Constraint
from apq.search.pareto import minimisation_points, non_dominated
from apq.search.problem import Problem
from apq.search.toolbox import build_toolbox
from apq.search.variation import Variation
from tests.helpers.search import small_config
from tests.helpers.search import batch


def test_survivors_are_feasible_first_then_least_violating():
    b = batch([90, 50, 60, 99, 98], [1, 2, 3, 4, 5], violation=[0, 0, 2.0, 1.0, 3.0])
    survivors = nsga2.select_nsga2(b, 3, ("latency_ms",))
    np.testing.assert_array_equal(survivors.acc, [90, 50, 99])


def test_with_enough_feasible_rows_only_feasible_ones_survive_by_rank():
    b = batch([90, 80, 70, 60, 99], [1, 2, 3, 0.5, 0.1], violation=[0, 0, 0, 0, 1.0])
    survivors = nsga2.select_nsga2(b, 2, ("latency_ms",))
    assert survivors.feasible.all()
    assert set(survivors.acc) == {90, 60}  # the first front: (90, 1 ms) and (60, 0.5 ms)


def test_front_is_non_dominated_feasible_and_spans_the_costs(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    limit = 2.0
    problem = Problem(table, fmnist_predictor, Constraint("energy_mj", limit))
    costs = ("latency_ms", "energy_mj")
    archive_run = nsga2.evolve(build_toolbox(problem, Variation(table.space, rules), small_config()), 0, costs)
    population, logbook = archive_run
    assert population.feasible.all() and (population.energy_mj <= limit).all()
    front = population.take(non_dominated(minimisation_points(population, costs)))
    assert len(front) >= 5
    points = minimisation_points(front, costs)
    for p in points:  # no member is dominated by another
        assert not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1))
    assert logbook.select("hypervolume")[-1] >= logbook.select("hypervolume")[0] > 0


def test_main_gives_deap_individuals_with_multi_objective_fitness(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", np.inf, "none"))
    individuals, _ = nsga2.main(build_toolbox(problem, Variation(table.space, rules), small_config(generations=3)), 1)
    assert individuals[0].fitness.weights == (1.0, -1.0)
    assert all(ind.fitness.values == (ind.acc, ind.latency_ms) for ind in individuals)
