"""Search methods with one result type: the joint GA, NSGA-II, and the baselines.

Every baseline spends (at most) as many predictor queries as the joint search (GA + NSGA-II)
under the same constraint, and every method reports its best *feasible* candidate
(or none), the feasible Pareto front of everything it evaluated, and a logbook.

Baselines (APQ's comparisons, section 4 of the paper):

- ``random``: uniform random valid genomes, drawn in pools and costed first like the GA's seed
  population (feasible ones preferred), until the query budget is spent.
- ``uniform_w8a8`` / ``uniform_w4a4``: every pointwise and depthwise weight and activation at 8
  (resp. 4) bits, the GA searching architecture and channels only. Where a target forbids a
  combination with the fixed bits (BitFusion: 7x7 depthwise at 4-bit activations) the free
  gene (the kernel) is re-drawn. Skipped when the space offers no such bit width.
- ``sequential``: architecture, then pruning, then quantization, each a GA with a third of the
  budget. (1) Kernels and depths with every block at its widest channel count, scored by the
  fp32 predictor (APQ's fp32 architecture search) and costed at 8-bit weights/activations;
  (2) channel counts with that architecture fixed, still fp32-scored and costed at 8 bits;
  (3) the bit policy with architecture and channels fixed, scored by the quantization-aware
  predictor. Without an fp32 predictor (e.g. an imported APQ checkpoint only), stages 1 and 2
  score with the quantization-aware predictor at W8A8 instead (``notes["architecture_scored_by"]``). Stages 1 and 2 keep their best candidate feasibility first, so if the widest
  channels cannot meet the limit stage 1 returns the cheapest architecture it found and the
  pruning stage has to close the gap; only a feasible stage-3 result is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from deap import tools

from apq.search import ga, nsga2
from apq.search.config import SearchConfig
from apq.search.pareto import ParetoArchive
from apq.search.problem import Batch, Problem
from apq.search.toolbox import build_toolbox, new_logbook, record, seed_population
from apq.search.variation import Variation
from apq.space.genome import Rules
from apq.space.space import BIT_GENES, SearchSpace


@dataclass
class MethodResult:
    """Outcome of one method: ``best`` (one feasible row, or None), ``front``, ``logbook``, ``queries``."""

    name: str
    best: Batch | None
    front: Batch
    logbook: tools.Logbook
    queries: int
    notes: dict = field(default_factory=dict)


def run_ga(name: str, problem: Problem, variation: Variation, config: SearchConfig, seed,
           costs: tuple[str, ...] = ("latency_ms",), generations: int | None = None) -> tuple[MethodResult, Batch]:
    """The APQ-style GA as a method; also returns its final population (best first)."""
    archive, start = ParetoArchive(costs), problem.queries
    population, logbook = ga.evolve(build_toolbox(problem, variation, config), seed, archive, generations)
    best = population.take([0]) if population.feasible[0] else None
    return MethodResult(name, best, _front(archive, problem), logbook, problem.queries - start), population


def run_nsga2(problem: Problem, variation: Variation, config: SearchConfig, seed,
              costs: tuple[str, ...]) -> MethodResult:
    """NSGA-II over (accuracy, ``costs``); ``best`` is its most accurate feasible front member."""
    archive, start = ParetoArchive(costs), problem.queries
    _, logbook = nsga2.evolve(build_toolbox(problem, variation, config), seed, costs, archive)
    front = _front(archive, problem)
    return MethodResult("nsga2", front.best_feasible(), front, logbook, problem.queries - start)


def _front(archive: ParetoArchive, problem: Problem) -> Batch:
    return archive.front if archive.front is not None else Batch.empty(problem.space.n_genes)


def random_search(problem: Problem, variation: Variation, config: SearchConfig, seed, budget: int,
                  costs: tuple[str, ...] = ("latency_ms",)) -> MethodResult:
    """Random valid genomes (feasible preferred) until ``budget`` predictor queries are spent."""
    rng, archive, logbook, start = np.random.default_rng(seed), ParetoArchive(costs), new_logbook(), problem.queries
    best: Batch | None = None
    gen = 0
    while problem.queries - start < budget:
        size = min(config.population if gen == 0 else config.children, budget - (problem.queries - start))
        chunk = seed_population(problem, variation, config, rng, size)
        archive.update(chunk)
        pool = chunk if best is None else Batch.concat([best, chunk])
        best = pool.take(np.lexsort((-pool.acc, pool.violation))[:1])
        record(logbook, gen, size, problem.queries - start, pool, archive, problem.latency_ref)
        gen += 1
    winner = best if best is not None and best.feasible[0] else None
    return MethodResult("random", winner, _front(archive, problem), logbook, problem.queries - start)


def bit_index(space: SearchSpace, bits: int) -> int | None:
    """Choice index of a bit width in the space, or None if the space does not offer it."""
    hits = np.flatnonzero(space.bit_choices == bits)
    return int(hits[0]) if hits.size else None


def frozen_columns(space: SearchSpace, genes: tuple[str, ...], values: np.ndarray) -> dict[int, int]:
    """{column: choice index} fixing every column of ``genes`` to ``values`` (a genome or a scalar)."""
    frozen = {}
    for gene in genes:
        for col in range(space.slices[gene].start, space.slices[gene].stop):
            frozen[col] = int(values if np.isscalar(values) else values[col])
    return frozen


def uniform_precision(problem: Problem, rules: Rules, config: SearchConfig, seed, bits: int,
                      costs: tuple[str, ...] = ("latency_ms",), generations: int | None = None) -> MethodResult | None:
    """GA over architecture and channels with every searchable layer at W{bits}A{bits}; None if
    the space has no such bit width. ``generations`` defaults to the config's."""
    index = bit_index(problem.space, bits)
    if index is None:
        return None
    variation = Variation(problem.space, rules, frozen_columns(problem.space, BIT_GENES, index))
    result, _ = run_ga(f"uniform_w{bits}a{bits}", problem, variation, config, seed, costs, generations)
    return result


#: (stage, genes fixed to the previous stage's winner (stage 1: widest channels), bits fixed at 8)
SEQUENTIAL_STAGES = (("architecture", ("mid",), True), ("pruning", ("depth", "kernel"), True),
                     ("quantization", ("depth", "kernel", "mid"), False))


def sequential(problem: Problem, rules: Rules, config: SearchConfig, seed, budget: int,
               costs: tuple[str, ...] = ("latency_ms",), fp32_problem: Problem | None = None) -> MethodResult:
    """Architecture, then channels, then bits (see module docstring), a third of ``budget`` each.

    ``fp32_problem``: the same table and constraint scored by the fp32 predictor (``quant=False``),
    for stages 1 and 2; None: ``problem`` scores them at W8A8."""
    space = problem.space
    stage_problems = (fp32_problem or problem, fp32_problem or problem, problem)

    def queries() -> int:
        return sum(p.queries for p in set(stage_problems))  # fp32_problem may be problem itself
    start = queries()
    # A stage's seed population shrinks if a third of the budget cannot pay for a whole one.
    config = config.override(population=max(min(config.population, budget // 3), 8))
    per_stage = max((budget // 3 - config.population) // config.children, 0)
    high_bits = len(space.bit_choices) - 1  # the widest bit width (8 in the built-in spaces)
    scorer = "fp32 predictor" if fp32_problem is not None else "quantization-aware predictor at W8A8"
    genome, logbooks = space.cardinality - 1, []  # stage 1: widest channels
    notes = {"architecture_scored_by": scorer, "stages": []}
    for i, (stage, fixed_genes, eight_bit) in enumerate(SEQUENTIAL_STAGES):
        frozen = frozen_columns(space, fixed_genes, genome)
        if eight_bit:
            frozen.update(frozen_columns(space, BIT_GENES, high_bits))
        spent = queries() - start
        gens = per_stage if i < 2 else max((budget - spent - config.population) // config.children, 0)
        result, population = run_ga(f"sequential_{stage}", stage_problems[i], Variation(space, rules, frozen),
                                    config, [*np.atleast_1d(seed), i], costs, gens)
        genome = population.genomes[0]
        notes["stages"].append({"stage": stage, "generations": gens, "queries": result.queries,
                                "predicted_acc": float(population.acc[0]),
                                "latency_ms": float(population.latency_ms[0]), "feasible": bool(population.feasible[0])})
        logbooks.append(result.logbook)
    return MethodResult("sequential", result.best, result.front, _chain(logbooks), queries() - start, notes)


def _chain(logbooks: list[tools.Logbook]) -> tools.Logbook:
    """One logbook of consecutive stages: generations and query counts continue across stages."""
    out, gen0, queries0 = new_logbook(), 0, 0
    for logbook in logbooks:
        for row in logbook:
            out.record(**{**row, "gen": row["gen"] + gen0, "queries": row["queries"] + queries0})
        gen0, queries0 = out[-1]["gen"] + 1, out[-1]["queries"]
    return out
