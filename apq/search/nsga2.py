"""Multi-objective search with NSGA-II (DEAP's ``tools.selNSGA2``): predicted accuracy vs cost.

Objectives: maximise predicted accuracy, minimise latency (and energy when asked). Constraint
handling is feasibility first: when at least ``population`` candidates are feasible NSGA-II selects
among the feasible ones only; otherwise all feasible ones survive and the least violating
infeasible ones fill the remaining places. Offspring come from the same batch variation as the GA
(50 mutation + 50 crossover children of random population members). Every evaluated batch goes
to a :class:`~apq.search.pareto.ParetoArchive`, whose front is the result.
"""
from __future__ import annotations

import numpy as np
from deap import base, tools

from apq.search.pareto import ParetoArchive
from apq.search.problem import Batch
from apq.search.toolbox import new_logbook, record, to_individuals


def objective_weights(costs: tuple[str, ...]) -> tuple[float, ...]:
    """DEAP weights: accuracy maximised, each cost minimised."""
    return (1.0,) + (-1.0,) * len(costs)


def select_nsga2(batch: Batch, k: int, costs: tuple[str, ...]) -> Batch:
    """``k`` survivors of ``batch``: NSGA-II among feasible rows, feasibility first (module docstring)."""
    feasible = np.flatnonzero(batch.feasible)
    if len(feasible) >= k:
        sub = batch.take(feasible)
        values = np.column_stack([sub.acc] + [sub.metric(c) for c in costs])
        # nd="log": DEAP's exact O(N log^(M-1) N) non-dominated sort, ~14x faster here than "standard"
        chosen = tools.selNSGA2(to_individuals(sub, objective_weights(costs), values, details=False), k, nd="log")
        return sub.take(np.asarray([ind.index for ind in chosen], dtype=np.int64))
    infeasible = np.flatnonzero(~batch.feasible)
    infeasible = infeasible[np.argsort(batch.violation[infeasible], kind="stable")]
    return batch.take(np.concatenate([feasible, infeasible[: k - len(feasible)]]))


def evolve(toolbox: base.Toolbox, seed: int, costs: tuple[str, ...] = ("latency_ms",),
           archive: ParetoArchive | None = None) -> tuple[Batch, tools.Logbook]:
    """Run NSGA-II; returns the final population (a :class:`Batch`) and the logbook.

    ``archive`` (default: a new one over ``costs``) receives every evaluated batch.
    """
    config, problem = toolbox.config, toolbox.problem
    rng = np.random.default_rng(seed)
    archive = archive if archive is not None else ParetoArchive(costs)
    logbook, start = new_logbook(), problem.queries
    population = toolbox.seed(rng)
    archive.update(population)
    record(logbook, 0, len(population), problem.queries - start, population, archive, problem.latency_ref)
    for gen in range(1, config.generations + 1):
        children = toolbox.evaluate(*toolbox.vary(population, rng))
        archive.update(children)
        population = select_nsga2(Batch.concat([population, children]), config.population, costs)
        record(logbook, gen, len(children), problem.queries - start, population, archive, problem.latency_ref)
    return population, logbook


def main(toolbox: base.Toolbox, seed: int, costs: tuple[str, ...] = ("latency_ms",)) -> tuple[list, tools.Logbook]:
    """DEAP-example entry point: the final population as DEAP individuals and the logbook."""
    population, logbook = evolve(toolbox, seed, costs)
    values = np.column_stack([population.acc] + [population.metric(c) for c in costs])
    return to_individuals(population, objective_weights(costs), values), logbook
