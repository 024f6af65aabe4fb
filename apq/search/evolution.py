"""The one evolution loop of every search: seed, breed, evaluate, select, log.

The GA, NSGA-II and random search differ only in their :class:`~apq.search.selection.Selection`
(who breeds, who survives, how the last population is ranked); the loop, the batch operators,
the Pareto archive, the DEAP logbook and the candidate log are shared. Every step works on a
whole :class:`~apq.search.problem.Batch`, so a generation is a handful of numpy calls and one
predictor pass.

Constraint handling is feasibility first everywhere. Seed genomes and children are drawn from
pools several times larger, costed (cheap, no predictor) and the feasible ones preferred (APQ's
finder re-draws until feasible), so predictor queries are rarely spent on candidates that
cannot win.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from deap import tools

from apq.hardware.cost import Costs
from apq.search.candidates import CandidateLog
from apq.search.config import SearchConfig
from apq.search.pareto import ParetoArchive, hypervolume
from apq.search.problem import Batch, Problem
from apq.search.selection import Selection
from apq.search.variation import Variation

LOG_FIELDS = ("gen", "nevals", "queries", "n_feasible", "best_feasible_acc", "mean_acc", "min_latency_ms",
              "hypervolume")


@dataclass
class Evolution:
    """One run of the loop: the last population ranked by its selection (best first), the feasible
    front of everything evaluated, the per-generation logbook, and every evaluated candidate."""

    population: Batch
    front: Batch
    logbook: tools.Logbook
    candidates: CandidateLog

    @property
    def queries(self) -> int:
        return len(self.candidates)


def evolve(problem: Problem, variation: Variation, selection: Selection, config: SearchConfig, seed,
           budget: int | None = None, costs: tuple[str, ...] = ("latency_ms",)) -> Evolution:
    """Run ``selection``'s search for at most ``budget`` predictor queries (default: the config's).

    Generation 0 is ``min(population, budget)`` random genomes (feasible ones preferred); each
    later one ``min(children, budget left)`` children of the selection's parents (fresh random
    genomes when it names none). ``costs``: the front's cost objectives. ``seed``: numpy seed.
    """
    budget = config.queries if budget is None else budget
    rng, archive, logbook = np.random.default_rng(seed), ParetoArchive(costs), new_logbook()
    candidates = CandidateLog(problem.space)
    population = Batch.empty(problem.space.n_genes)
    gen, n = 0, min(config.population, budget)
    while n > 0:
        parents = selection.parents(population, config) if gen else None
        if parents is None:
            genomes, cheap = draw_preferring_feasible(problem, variation, n, config.seed_pool, rng)
        else:
            genomes, cheap = make_children(problem, variation, config, parents, rng, n)
        children = problem.evaluate(genomes, cheap)
        archive.update(children)
        candidates.add(children, gen)
        population = selection.survivors(population, parents, children, config) if gen else children
        record(logbook, gen, n, len(candidates), population, archive, problem.latency_ref)
        gen, n = gen + 1, min(config.children, budget - len(candidates))
    front = archive.front if archive.front is not None else Batch.empty(problem.space.n_genes)
    return Evolution(selection.ranked(population), front, logbook, candidates)


# ----- batch operators -------------------------------------------------------------------
def take_costs(costs: Costs, index) -> Costs:
    return Costs(costs.latency_ms[index], costs.energy_mj[index], costs.bitops[index])


def draw_preferring_feasible(problem: Problem, variation: Variation, n: int, pool: int,
                             rng: np.random.Generator) -> tuple[np.ndarray, Costs]:
    """``n`` random valid genomes and their costs: ``pool`` are drawn and costed per slot; the
    feasible ones, in random order, fill the slots, then the least violating."""
    drawn = variation.sample(n * pool, rng)
    costs = problem.cost(drawn)
    chosen = np.lexsort((rng.random(len(drawn)), problem.violation(costs)))[:n]
    return drawn[chosen], take_costs(costs, chosen)


def make_children(problem: Problem, variation: Variation, config: SearchConfig, parents: Batch,
                  rng: np.random.Generator, n: int | None = None) -> tuple[np.ndarray, Costs]:
    """One generation's children of ``parents``: mutants, then crossovers; (genomes, their costs).

    ``child_pool`` candidates are made per child slot and costed (no predictor query); each kind
    keeps its feasible ones first, then the least violating. ``n`` (< ``config.children``) keeps
    the first ``n`` of them (a budget's last generation).
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
    keep = keep[:n]
    return genomes[keep], take_costs(costs, keep)


def _least_violating(violation: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` rows: feasible ones in their drawn order first, then the least violating."""
    return np.argsort(violation, kind="stable")[:k]


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
