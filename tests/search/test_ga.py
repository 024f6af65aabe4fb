"""The APQ-style GA (the loop with the GA's selection): known optima of stand-in predictors, and
APQ's two finder defects absent."""
import numpy as np
import pytest

from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.search.constraint import Constraint
from apq.search.evolution import evolve
from apq.search.problem import Problem
from apq.search.selection import GA, select_feasible_best
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
    population = evolve(problem, Variation(space, rules), GA, config, seed).population
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
    population = evolve(problem, Variation(space, rules), GA, config, 4).population
    random = problem.evaluate(sample(space, config.queries, rng, rules))
    random_best = random.acc[random.feasible].max()
    assert population.feasible[0]
    assert population.acc[0] >= optimum - 1.0  # at the optimum or one feature short
    assert population.acc[0] > random_best + 20


@pytest.fixture
def ga_run(fpga_fmnist, fmnist_predictor):
    """A GA run's problem, variation and config; ``run(seed, generations)`` runs it."""
    table, rules = fpga_fmnist
    limit = float(np.median(table.evaluate(sample(table.space, 500, np.random.default_rng(0), rules)).latency_ms))
    problem = Problem(table, fmnist_predictor, Constraint("latency_ms", limit))
    config = small_config(population=40, mutation_children=20, crossover_children=20, generations=15)
    variation = Variation(table.space, rules)

    def run(seed, generations=None):
        cfg = config if generations is None else config.override(generations=generations)
        return evolve(problem, variation, GA, cfg, seed)
    return run, config


def test_the_whole_seed_population_is_evaluated_and_competes(ga_run):
    """APQ's finder predicts 100 seeds but keeps only the first 50; here every seed can be a parent."""
    run, config = ga_run
    log = run(0, generations=1).candidates
    seeds = log.batch().take(log.generations() == 0)
    assert len(seeds) == config.population
    assert seeds.feasible.all()
    parents = select_feasible_best(seeds, config.n_parents)
    np.testing.assert_array_equal(parents.acc, np.unique(seeds.acc)[::-1][: config.n_parents])
    rows = np.flatnonzero(np.isin(seeds.acc, parents.acc))
    assert rows.max() >= config.population // 2  # a seed from the half APQ throws away


def test_crossover_children_are_evaluated_and_become_parents(ga_run):
    """APQ's finder predicts its crossover children but never adds them to the population."""
    run, config = ga_run
    result = run(0)
    gens, children = result.candidates.generations(), result.candidates.batch()
    assert np.array_equal(np.bincount(gens)[1:], [config.children] * config.generations)
    position = np.arange(len(gens)) - np.searchsorted(gens, gens)  # row within its generation
    crossed = {bytes(g) for g in children.genomes[(gens > 0) & (position >= config.mutation_children)].astype(np.int64)}
    mutated = {bytes(g) for g in children.genomes[(gens > 0) & (position < config.mutation_children)].astype(np.int64)}
    survivors = {bytes(g) for g in result.population.genomes[: config.n_parents]}
    assert survivors & (crossed - mutated)


def test_the_last_population_is_ranked_and_the_logbook_elitist(ga_run):
    run, config = ga_run
    result = run(3)
    assert len(result.logbook) == config.generations + 1
    assert result.logbook.select("queries")[-1] == config.queries == result.queries
    population = result.population
    keys = list(zip(population.violation.tolist(), (-population.acc).tolist()))
    assert keys == sorted(keys)  # feasibility first, then predicted accuracy
    best_feasible = result.logbook.select("best_feasible_acc")
    assert all(b >= a for a, b in zip(best_feasible, best_feasible[1:]))  # elitism


def test_same_seed_same_result(ga_run):
    run, _ = ga_run
    np.testing.assert_array_equal(run(7).population.genomes, run(7).population.genomes)
