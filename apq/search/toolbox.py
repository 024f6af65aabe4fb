"""DEAP set-up shared by the searches: guarded ``creator`` classes, the toolbox builder, logging.

The toolbox's operators work on whole batches (a :class:`~apq.search.problem.Batch` of genomes),
so one generation is a handful of numpy calls and one predictor pass. DEAP individuals
(``creator`` classes over ``numpy.ndarray`` genomes, with a ``fitness``) are made where DEAP's
own selection needs them (NSGA-II) and for the populations the searches return.

Constraint handling is feasibility first everywhere. The single-constraint GA's DEAP fitness is
lexicographic, values ``(-violation, predicted accuracy)``: every feasible candidate (violation 0)
beats every infeasible one, feasible ones rank by accuracy, infeasible ones by how little they
exceed the limit. Seed genomes and children are drawn from pools several times larger, costed
(cheap, no predictor) and the feasible ones preferred (APQ's finder re-draws until feasible), so
predictor queries are rarely spent on candidates that cannot win.
"""
from __future__ import annotations

import numpy as np
from deap import base, creator, tools

from apq.hardware.cost import Costs
from apq.search.config import SearchConfig
from apq.search.pareto import ParetoArchive, hypervolume
from apq.search.problem import Batch, Problem
from apq.search.variation import Variation

LOG_FIELDS = ("gen", "nevals", "queries", "n_feasible", "best_feasible_acc", "mean_acc", "min_latency_ms",
              "hypervolume")
#: Weights of the GA's lexicographic feasibility-first fitness ``(-violation, accuracy)``.
GA_WEIGHTS = (1.0, 1.0)


def ensure_creator_class(name: str, base_class: type, **attributes) -> type:
    """``creator.create`` once per process: later calls reuse the class of the same definition.

    DEAP's creator is global state; creating a class twice warns and replaces the first, which
    breaks individuals already made. A clash (same name, other weights) is a programming error.
    """
    existing = getattr(creator, name, None)
    if existing is None:
        creator.create(name, base_class, **attributes)
        return getattr(creator, name)
    wanted = attributes.get("weights")
    if wanted is not None and tuple(existing.weights) != tuple(wanted):
        raise RuntimeError(f"deap creator class {name} exists with weights {existing.weights}, not {wanted}")
    return existing


def fitness_class(weights: tuple[float, ...]) -> type:
    """DEAP fitness type for ``weights`` (+1 maximise, -1 minimise), created once per process."""
    tag = "".join("Max" if w > 0 else "Min" for w in weights)
    return ensure_creator_class(f"ApqFitness{tag}", base.Fitness, weights=tuple(weights))


def individual_class(weights: tuple[float, ...]) -> type:
    """DEAP individual type: a genome ``numpy.ndarray`` (n_genes,) with a ``fitness`` attribute."""
    tag = "".join("Max" if w > 0 else "Min" for w in weights)
    return ensure_creator_class(f"ApqIndividual{tag}", np.ndarray, fitness=fitness_class(weights))


def to_individuals(batch: Batch, weights: tuple[float, ...], values: np.ndarray, details: bool = True) -> list:
    """DEAP individuals of the rows of ``batch``; ``values`` (N, len(weights)) are their fitnesses.

    Each individual carries ``index`` (its row in ``batch``) and, with ``details``, ``acc`` and
    the cost fields (left out where only DEAP's selection reads them).
    """
    ind_cls, fit_cls = individual_class(weights), fitness_class(weights)
    rows = batch.genomes.view(ind_cls)
    individuals = []
    for i, vals in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        ind = rows[i]
        ind.fitness, ind.index = fit_cls(tuple(vals)), i
        if details:
            ind.acc, ind.latency_ms = float(batch.acc[i]), float(batch.latency_ms[i])
            ind.energy_mj, ind.bitops = float(batch.energy_mj[i]), float(batch.bitops[i])
        individuals.append(ind)
    return individuals


def ga_individuals(batch: Batch) -> list:
    """Individuals with the GA's feasibility-first fitness, best first."""
    return to_individuals(batch, GA_WEIGHTS, np.column_stack([-batch.violation, batch.acc]))


# ----- batch operators -------------------------------------------------------------------
def take_costs(costs: Costs, index) -> Costs:
    return Costs(costs.latency_ms[index], costs.energy_mj[index], costs.bitops[index])


def seed_population(problem: Problem, variation: Variation, config: SearchConfig, rng: np.random.Generator,
                    n: int | None = None) -> Batch:
    """``n`` (default: the population size) evaluated random genomes, feasible ones preferred.

    Draws ``seed_pool`` random valid genomes per slot and costs them; the feasible ones, in random
    order, fill the slots, then the least violating. Every chosen genome is queried and kept.
    """
    n = config.population if n is None else n
    pool = variation.sample(n * config.seed_pool, rng)
    costs = problem.cost(pool)
    chosen = np.lexsort((rng.random(len(pool)), problem.violation(costs)))[:n]
    return problem.evaluate(pool[chosen], take_costs(costs, chosen))


def make_children(problem: Problem, variation: Variation, config: SearchConfig, parents: Batch,
                  rng: np.random.Generator) -> tuple[np.ndarray, Costs]:
    """One generation's children of ``parents``: mutants, then crossovers; (genomes, their costs).

    ``child_pool`` candidates are made per child slot and costed (no predictor query); each kind
    keeps its feasible ones first, then the least violating.
    """
    pool = config.child_pool
    picks = rng.integers(len(parents), size=config.mutation_children * pool)
    mutants = variation.mutate(parents.genomes[picks], rng, config.block_mutation_prob, config.genes_per_block)
    a, b = rng.integers(len(parents), size=(2, config.crossover_children * pool))
    crosses = variation.crossover(parents.genomes[a], parents.genomes[b], rng)
    genomes = np.concatenate([mutants, crosses])
    costs = problem.cost(genomes)
    violation = problem.violation(costs)
    keep = np.concatenate([_least_violating(violation[:len(mutants)], config.mutation_children),
                           len(mutants) + _least_violating(violation[len(mutants):], config.crossover_children)])
    return genomes[keep], take_costs(costs, keep)


def _least_violating(violation: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows: feasible ones in their drawn order first, then the least violating."""
    return np.argsort(violation, kind="stable")[:k]


def select_feasible_best(batch: Batch, k: int) -> Batch:
    """The ``k`` best distinct rows, feasibility first (see module docstring), best first.

    Copies of one genome (same predicted accuracy and cost) count once, so the parents do not
    collapse onto a single genome; fewer than ``k`` rows come back only if fewer are distinct.
    """
    order = np.lexsort((batch.latency_ms, -batch.acc, batch.violation))
    acc, lat = batch.acc[order], batch.latency_ms[order]
    repeat = np.concatenate([[False], (acc[1:] == acc[:-1]) & (lat[1:] == lat[:-1])])
    return batch.take(order[~repeat][:k])


def build_toolbox(problem: Problem, variation: Variation, config: SearchConfig) -> base.Toolbox:
    """Toolbox with ``seed(rng)``, ``vary(parents, rng)``, ``evaluate(genomes, costs)``, ``select(batch, k)``."""
    toolbox = base.Toolbox()
    toolbox.register("seed", seed_population, problem, variation, config)
    toolbox.register("vary", make_children, problem, variation, config)
    toolbox.register("evaluate", problem.evaluate)
    toolbox.register("select", select_feasible_best)
    toolbox.problem, toolbox.config = problem, config
    return toolbox


# ----- logging ---------------------------------------------------------------------------
def new_logbook() -> tools.Logbook:
    logbook = tools.Logbook()
    logbook.header = LOG_FIELDS
    return logbook


def record(logbook: tools.Logbook, gen: int, nevals: int, queries: int, population: Batch,
           archive: ParetoArchive, latency_ref: float) -> None:
    """One logbook row: population statistics, best feasible accuracy and the archive's hypervolume."""
    feasible = population.feasible
    best = float(population.acc[feasible].max()) if feasible.any() else float("nan")
    front = archive.front
    hv = hypervolume(front, latency_ref) if front is not None and len(front) else 0.0
    logbook.record(gen=gen, nevals=nevals, queries=queries, n_feasible=int(feasible.sum()),
                   best_feasible_acc=best, mean_acc=float(population.acc.mean()),
                   min_latency_ms=float(population.latency_ms.min()), hypervolume=hv)
