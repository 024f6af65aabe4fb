"""The part of a search that differs between the GA, NSGA-II and random search: selection.

A :class:`Selection` says who breeds (``parents``; None: the children are fresh random genomes),
who survives into the next population (``survivors``), and how the last population is ranked.

- :data:`GA` (APQ's evolution finder): the top ``n_parents`` distinct rows, feasibility first
  then predicted accuracy, breed; parents + children form the next population.
- :class:`Nsga2`: the whole population breeds; DEAP's ``tools.selNSGA2`` picks the survivors of
  population + children over (accuracy, costs), feasibility first.
- :data:`RANDOM`: nobody breeds; the best row so far and the fresh genomes form the population.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Protocol

import numpy as np
from deap import base, tools

from apq.search.config import SearchConfig
from apq.search.problem import Batch


class Selection(Protocol):
    """Who breeds, who survives, and the final ranking (best first) of one search."""

    #: The method's winner is its front's most accurate member (NSGA-II), not its ranked first row.
    winner_from_front: bool

    def parents(self, population: Batch, config: SearchConfig) -> Batch | None: ...

    def survivors(self, population: Batch, parents: Batch | None, children: Batch,
                  config: SearchConfig) -> Batch: ...

    def ranked(self, population: Batch) -> Batch: ...


def select_feasible_best(batch: Batch, k: int) -> Batch:
    """The ``k`` best distinct rows, best first: feasible before infeasible, then by predicted
    accuracy (infeasible ones: least violating first), ties by latency.

    Copies of one genome (same predicted accuracy and cost) count once, so the parents do not
    collapse onto a single genome; fewer than ``k`` rows come back only if fewer are distinct.
    """
    order = np.lexsort((batch.latency_ms, -batch.acc, batch.violation))
    acc, lat = batch.acc[order], batch.latency_ms[order]
    repeat = np.concatenate([[False], (acc[1:] == acc[:-1]) & (lat[1:] == lat[:-1])])
    return batch.take(order[~repeat][:k])


class Truncation:
    """APQ's GA: the best ``n_parents`` breed and survive with their children."""

    winner_from_front = False

    def parents(self, population: Batch, config: SearchConfig) -> Batch:
        return select_feasible_best(population, config.n_parents)

    def survivors(self, population, parents, children, config) -> Batch:
        return Batch.concat([parents, children])

    def ranked(self, population: Batch) -> Batch:
        return select_feasible_best(population, len(population))


class KeepBest:
    """Random search: fresh genomes each generation, the best row so far kept beside them."""

    winner_from_front = False

    def parents(self, population: Batch, config: SearchConfig) -> None:
        return None

    def survivors(self, population, parents, children, config) -> Batch:
        return Batch.concat([select_feasible_best(population, 1), children])

    def ranked(self, population: Batch) -> Batch:
        return select_feasible_best(population, len(population))


@dataclass(frozen=True)
class Nsga2:
    """NSGA-II over predicted accuracy (maximised) and ``costs`` (minimised), feasibility first."""

    costs: tuple[str, ...] = ("latency_ms",)
    winner_from_front = True

    def parents(self, population: Batch, config: SearchConfig) -> Batch:
        return population

    def survivors(self, population, parents, children, config) -> Batch:
        return select_nsga2(Batch.concat([population, children]), config.population, self.costs)

    def ranked(self, population: Batch) -> Batch:
        return population


GA, RANDOM = Truncation(), KeepBest()


@cache
def _fitness_type(weights: tuple[float, ...]) -> type:
    """A DEAP fitness class for ``weights`` (+1 maximise, -1 minimise); no global ``creator`` state."""
    return type("ApqFitness", (base.Fitness,), {"weights": weights})


class _Ranked:
    """What ``selNSGA2`` reads of an individual: its ``fitness``; ``index`` is its row."""

    __slots__ = ("fitness", "index")

    def __init__(self, fitness, index: int):
        self.fitness, self.index = fitness, index


def select_nsga2(batch: Batch, k: int, costs: tuple[str, ...]) -> Batch:
    """``k`` survivors of ``batch``: when at least ``k`` rows are feasible, NSGA-II among the feasible
    ones; otherwise every feasible row, then the least violating infeasible ones."""
    feasible = np.flatnonzero(batch.feasible)
    if len(feasible) >= k:
        sub = batch.take(feasible)
        fitness = _fitness_type((1.0,) + (-1.0,) * len(costs))
        values = np.column_stack([sub.acc] + [sub.metric(c) for c in costs]).tolist()
        individuals = [_Ranked(fitness(tuple(v)), i) for i, v in enumerate(values)]
        # nd="log": DEAP's exact O(N log^(M-1) N) non-dominated sort, ~14x faster here than "standard"
        chosen = tools.selNSGA2(individuals, k, nd="log")
        return sub.take(np.asarray([ind.index for ind in chosen], dtype=np.int64))
    infeasible = np.flatnonzero(~batch.feasible)
    infeasible = infeasible[np.argsort(batch.violation[infeasible], kind="stable")]
    return batch.take(np.concatenate([feasible, infeasible[: k - len(feasible)]]))
