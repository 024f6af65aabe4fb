"""APQ-style single-constraint genetic search (DEAP toolbox, batch operators).

Each generation the top quarter of the population (feasibility first, then predicted accuracy)
become parents; 50 mutation children (random parent, block mutation) and 50 crossover children
(two random parents, uniform crossover) are evaluated in one batch, and parents + children form
the next population. Unlike APQ's own finder, the whole random seed population is evaluated and
kept (APQ keeps half of it) and the crossover children join the population (APQ drops them).
"""
from __future__ import annotations

import logging

import numpy as np
from deap import base, tools

from apq.search.pareto import ParetoArchive
from apq.search.problem import Batch
from apq.search.toolbox import ga_individuals, new_logbook, record

log = logging.getLogger(__name__)


def evolve(toolbox: base.Toolbox, seed: int, archive: ParetoArchive | None = None,
           generations: int | None = None) -> tuple[Batch, tools.Logbook]:
    """Run the GA; returns the final population as a :class:`Batch` (best first) and the logbook.

    ``archive`` (if given) receives every evaluated batch; ``generations`` overrides the config's.
    """
    config, problem = toolbox.config, toolbox.problem
    rng = np.random.default_rng(seed)
    archive = archive if archive is not None else ParetoArchive()
    generations = config.generations if generations is None else generations
    logbook, start = new_logbook(), problem.queries
    population = toolbox.seed(rng)
    archive.update(population)
    record(logbook, 0, len(population), problem.queries - start, population, archive, problem.latency_ref)
    for gen in range(1, generations + 1):
        parents = toolbox.select(population, config.n_parents)
        children = toolbox.evaluate(*toolbox.vary(parents, rng))
        archive.update(children)
        population = Batch.concat([parents, children])
        record(logbook, gen, len(children), problem.queries - start, population, archive, problem.latency_ref)
    return toolbox.select(population, len(population)), logbook


def main(toolbox: base.Toolbox, seed: int) -> tuple[list, tools.Logbook]:
    """DEAP-example entry point: the final population as DEAP individuals (best first) and the logbook."""
    population, logbook = evolve(toolbox, seed)
    return ga_individuals(population), logbook
