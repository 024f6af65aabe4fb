"""The APQ-style GA: known optima of stand-in predictors, and APQ's two finder defects absent."""
import numpy as np
import pytest

from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.search import ga
from apq.search.constraint import Constraint
from apq.search.problem import Problem
from apq.search.toolbox import GA_WEIGHTS, build_toolbox
from apq.search.variation import Variation
from apq.space.encoding import Encoder
from apq.space.genome import Rules, sample
from apq.space.registry import create_space
from tests.helpers.search import LinearScore, all_genomes, ridge_predictor, small_config, tiny_space


@pytest.mark.parametrize("seed", [0, 1])
def test_ga_finds_the_enumerated_optimum_under_a_binding_constraint(seed):
    space, target = tiny_space(), create_target("fpga")
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    weights = np.random.default_rng(seed).normal(0.0, 1.0, Encoder(space).dim)
    predictor = ridge_predictor(space, weights)
    everything = all_genomes(space)
    latency = table.evaluate(everything).latency_ms
    limit = float(np.quantile(latency, 0.3))
    scores = predictor.predict(Encoder(space).encode(everything))
    assert scores.max() > scores[latency <= limit].max() + 0.1  # the limit binds
    problem = Problem(table, predictor, Constraint("latency_ms", limit))
    config = small_config(population=60, mutation_children=30, crossover_children=30, generations=30)
    population, _ = ga.evolve(build_toolbox(problem, Variation(space, rules), config), seed)
    assert population.feasible[0] and population.latency_ms[0] <= limit
    assert population.acc[0] == pytest.approx(scores[latency <= limit].max(), abs=1e-6)


def test_ga_reaches_a_planted_optimum_far_beyond_random_search():
    """imagenet-apq (10^100+ genomes): score = number of one-hot features shared with a planted genome,
    limit = its latency, so the planted genome is the feasible optimum."""
    space, target = create_space("imagenet-apq"), create_target("bitfusion")
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    rng = np.random.default_rng(4)
    planted = sample(space, 1, rng, rules)
    features = Encoder(space).encode(planted)[0]
    predictor = LinearScore(features)
    optimum = float(predictor.predict(features[None])[0])
    problem = Problem(table, predictor, Constraint("latency_ms", float(table.evaluate(planted).latency_ms[0])))
    config = small_config(population=100, mutation_children=50, crossover_children=50, generations=300)
    population, _ = ga.evolve(build_toolbox(problem, Variation(space, rules), config), 4)
    random = problem.evaluate(sample(space, config.queries, rng, rules))
    random_best = random.acc[random.feasible].max()
    assert population.feasible[0]
    assert population.acc[0] >= optimum - 1.0  # at the optimum or one feature short
    assert population.acc[0] > random_best + 20


class Spy:
    """Wraps a toolbox's batch operators to record what they produced."""

    def __init__(self, toolbox):
        self.evaluated, self.children = [], []
        evaluate, vary = toolbox.evaluate, toolbox.vary

        def spy_evaluate(genomes, costs=None):
            batch = evaluate(genomes, costs)
            self.evaluated.append(batch)
            return batch

        def spy_vary(parents, rng):
            genomes, costs = vary(parents, rng)
            self.children.append(genomes.copy())
            return genomes, costs

        toolbox.register("evaluate", spy_evaluate)
        toolbox.register("vary", spy_vary)


@pytest.fixture
def spied(fpga_fmnist, fmnist_predictor):
    table, rules = fpga_fmnist
    limit = float(np.median(table.evaluate(sample(table.space, 500, np.random.default_rng(0), rules)).latency_ms))
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", limit))
    config = small_config(population=40, mutation_children=20, crossover_children=20, generations=15)
    toolbox = build_toolbox(problem, Variation(table.space, rules), config)
    return toolbox, Spy(toolbox), config


def test_the_whole_seed_population_is_evaluated_and_competes(spied):
    """APQ's finder predicts 100 seeds but keeps only the first 50; here every seed can be a parent."""
    toolbox, spy, config = spied
    ga.evolve(toolbox, 0, generations=1)
    seeds = spy.evaluated[0]
    assert len(seeds) == config.population
    assert seeds.feasible.all()
    parents = toolbox.select(seeds, config.n_parents)
    np.testing.assert_array_equal(parents.acc, np.unique(seeds.acc)[::-1][: config.n_parents])
    rows = np.flatnonzero(np.isin(seeds.acc, parents.acc))
    assert rows.max() >= config.population // 2  # a seed from the half APQ throws away


def test_crossover_children_are_evaluated_and_become_parents(spied):
    """APQ's finder predicts its crossover children but never adds them to the population."""
    toolbox, spy, config = spied
    population, _ = ga.evolve(toolbox, 0)
    assert all(len(batch) == config.children for batch in spy.evaluated[1:])
    crossed = {bytes(g) for children in spy.children for g in children[config.mutation_children:]}
    mutated = {bytes(g) for children in spy.children for g in children[: config.mutation_children]}
    survivors = {bytes(g) for g in population.genomes[: config.n_parents]}
    assert survivors & (crossed - mutated)


def test_main_returns_deap_individuals_best_first_and_a_logbook(spied):
    toolbox, _, config = spied
    individuals, logbook = ga.main(toolbox, 3)
    assert len(logbook) == config.generations + 1
    assert logbook.select("queries")[-1] == config.queries
    assert individuals[0].fitness.weights == GA_WEIGHTS
    fitness = [ind.fitness.values for ind in individuals]
    assert fitness == sorted(fitness, reverse=True)
    best_feasible = logbook.select("best_feasible_acc")
    assert all(b >= a for a, b in zip(best_feasible, best_feasible[1:]))  # elitism


def test_same_seed_same_result(spied, fpga_fmnist, fmnist_predictor):
    toolbox, _, _ = spied
    first, _ = ga.evolve(toolbox, 7)
    second, _ = ga.evolve(toolbox, 7)
    np.testing.assert_array_equal(first.genomes, second.genomes)
