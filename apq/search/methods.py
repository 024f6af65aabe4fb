"""The five search methods, one signature: ``method(problem, config, seed, budget=None) -> MethodResult``.

``budget`` caps the predictor queries (default: the config's, a seed population plus
``generations`` generations of children); ``seed`` seeds numpy. Every method runs the one loop of
:mod:`apq.search.evolution` with its own selection and genes, and reports its best *feasible*
candidate (or none), the feasible Pareto front of everything it evaluated, a logbook and every
candidate it evaluated. Each method's front objectives are the problem constraint's
(:attr:`apq.search.constraint.Constraint.front_costs`).

- ``ga``: APQ's evolution finder (:data:`apq.search.selection.GA`) over all genes, whole
  generations within the budget.
- ``nsga2``: the Pareto front over accuracy and costs (:class:`apq.search.selection.Nsga2`).
- ``ga_floor<b>`` (:func:`floored_ga`): the GA over all genes with every bit width at ``b`` or
  wider; the joint search's hedge when it re-ranks (``SearchConfig.rerank_bit_floors``).

Baselines (APQ's comparisons, section 4 of the paper):

- ``random``: uniform random valid genomes, drawn in pools and costed first like the seed
  population (feasible ones preferred), until exactly the budget is spent.
- ``uniform_w8a8`` / ``uniform_w4a4`` / ``uniform_w2a2``: every pointwise and depthwise weight
  and activation at 8 (resp. 4, 2) bits, the GA searching architecture and channels only. Where a target forbids a
  combination with the fixed bits (BitFusion: 7x7 depthwise at 4-bit activations) the free
  gene (the kernel) is re-drawn. None when the space offers no such bit width.
- ``sequential``: architecture, then pruning, then quantization, each a GA with a third of the
  budget. (1) Kernels and depths with every block at its widest channel count, scored by the
  fp32 predictor (APQ's fp32 architecture search) and costed at 8-bit weights/activations;
  (2) channel counts with that architecture fixed, still fp32-scored and costed at 8 bits;
  (3) the bit policy with architecture and channels fixed, scored by the quantization-aware
  predictor. Without an fp32 predictor (e.g. an imported APQ checkpoint only), stages 1 and 2
  score with the quantization-aware predictor at W8A8 instead (``notes["architecture_scored_by"]``).
  Stages 1 and 2 keep their best candidate feasibility first, so if the widest channels cannot
  meet the limit stage 1 returns the cheapest architecture it found and the pruning stage has to
  close the gap; only a feasible stage-3 result is reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np
from deap import tools

from apq.search.candidates import CandidateLog
from apq.search.config import SearchConfig
from apq.search.evolution import Evolution, evolve, new_logbook
from apq.search.problem import Batch, Problem
from apq.search.selection import GA, RANDOM, Nsga2, Selection
from apq.search.variation import Variation
from apq.space.space import BIT_GENES, SearchSpace


@dataclass
class MethodResult:
    """Outcome of one method: ``best`` (one feasible row, or None), ``front``, ``logbook``,
    ``queries``, every evaluated candidate (``candidates``), method-specific ``notes``, and
    ``pool``: the candidates its re-ranking may pick from (None: all of ``candidates``; the
    sequential baseline's last stage only, since its earlier stages were scored by another
    predictor)."""

    name: str
    best: Batch | None
    front: Batch
    logbook: tools.Logbook
    queries: int
    candidates: CandidateLog
    notes: dict = field(default_factory=dict)
    pool: CandidateLog | None = None

    @property
    def rerank_pool(self) -> CandidateLog:
        """The candidates re-ranking picks this method's shortlist from."""
        return self.candidates if self.pool is None else self.pool


def whole_generations(config: SearchConfig, budget: int | None) -> int:
    """The queries of a seed population plus as many whole generations as fit in ``budget``."""
    if budget is None:
        return config.queries
    return config.population + max((budget - config.population) // config.children, 0) * config.children


def _search(name: str, problem: Problem, selection: Selection, config: SearchConfig, seed, budget: int,
            frozen: dict[int, int] | None = None, floors: dict[int, int] | None = None
            ) -> tuple[MethodResult, Evolution]:
    """Run the loop on ``problem`` with genes ``frozen`` ({column: choice index}) and ``floors``
    ({column: lowest choice index}); the result and the run."""
    run = evolve(problem, Variation(problem.space, problem.rules, frozen, floors), selection, config, seed, budget,
                 problem.constraint.front_costs)
    if selection.winner_from_front:
        best = run.front.best_feasible()
    else:
        best = run.population.take([0]) if len(run.population) and run.population.feasible[0] else None
    return MethodResult(name, best, run.front, run.logbook, run.queries, run.candidates), run


def joint_ga(problem: Problem, config: SearchConfig, seed, budget: int | None = None) -> MethodResult:
    """The APQ-style GA over architecture, channels and bits."""
    return _search("ga", problem, GA, config, seed, whole_generations(config, budget))[0]


def floored_ga(problem: Problem, config: SearchConfig, seed, budget: int | None = None, *,
               bits: int) -> MethodResult:
    """The joint GA with every pointwise and depthwise weight and activation at ``bits`` or wider
    (a mixed policy over the space's widths from ``bits`` up); ValueError if the space lacks ``bits``."""
    floors = bit_columns(problem.space, bits)
    if floors is None:
        raise ValueError(f"space '{problem.space.name}' offers no {bits}-bit width")
    return _search(f"ga_floor{bits}", problem, GA, config, seed, whole_generations(config, budget), floors=floors)[0]


def split_budget(config: SearchConfig, budget: int, parts: int) -> list[int]:
    """``budget`` queries as ``parts`` searches' budgets of whole generations each (a seed population
    plus generations of children) whose sum is ``budget`` whenever the population is a multiple of
    the children per generation (the built-in presets), never more."""
    out: list[int] = []
    for i in range(parts):
        out.append(whole_generations(config, (budget - sum(out)) // (parts - i)))
    return out


def nsga2_front(problem: Problem, config: SearchConfig, seed, budget: int | None = None) -> MethodResult:
    """NSGA-II over (accuracy, front costs); ``best`` is its most accurate feasible front member."""
    selection = Nsga2(problem.constraint.front_costs)
    return _search("nsga2", problem, selection, config, seed, whole_generations(config, budget))[0]


def random_search(problem: Problem, config: SearchConfig, seed, budget: int | None = None) -> MethodResult:
    """Random valid genomes (feasible preferred) until exactly ``budget`` predictor queries are spent."""
    return _search("random", problem, RANDOM, config, seed, config.queries if budget is None else budget)[0]


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


def bit_columns(space: SearchSpace, bits: int) -> dict[int, int] | None:
    """{column: choice index} setting every pointwise and depthwise weight and activation gene to
    ``bits``; None if the space does not offer that width."""
    index = bit_index(space, bits)
    return None if index is None else frozen_columns(space, BIT_GENES, index)


def uniform_precision(problem: Problem, config: SearchConfig, seed, budget: int | None = None, *,
                      bits: int) -> MethodResult | None:
    """GA over architecture and channels with every searchable layer at W{bits}A{bits}; None if
    the space has no such bit width."""
    frozen = bit_columns(problem.space, bits)
    if frozen is None:
        return None
    return _search(f"uniform_w{bits}a{bits}", problem, GA, config, seed, whole_generations(config, budget),
                   frozen)[0]


#: (stage, genes fixed to the previous stage's winner (stage 1: widest channels), bits fixed at 8)
SEQUENTIAL_STAGES = (("architecture", ("mid",), True), ("pruning", ("depth", "kernel"), True),
                     ("quantization", ("depth", "kernel", "mid"), False))


def sequential(problem: Problem, config: SearchConfig, seed, budget: int | None = None, *,
               fp32_problem: Problem | None = None) -> MethodResult:
    """Architecture, then channels, then bits (see module docstring), a third of ``budget`` each.

    ``fp32_problem``: the same table and constraint scored by the fp32 predictor (``quant=False``),
    for stages 1 and 2; None: ``problem`` scores them at W8A8."""
    budget = config.queries if budget is None else budget
    space = problem.space
    stage_problems = (fp32_problem or problem, fp32_problem or problem, problem)
    # A stage's seed population shrinks if a third of the budget cannot pay for a whole one.
    config = config.override(population=max(min(config.population, budget // 3), 8))
    per_stage = max((budget // 3 - config.population) // config.children, 0)
    high_bits = len(space.bit_choices) - 1  # the widest bit width (8 in the built-in spaces)
    scorer = "fp32 predictor" if fp32_problem is not None else "quantization-aware predictor at W8A8"
    genome, stages, spent = space.cardinality - 1, [], 0  # stage 1: widest channels
    notes = {"architecture_scored_by": scorer, "stages": []}
    for i, (stage, fixed_genes, eight_bit) in enumerate(SEQUENTIAL_STAGES):
        frozen = frozen_columns(space, fixed_genes, genome)
        if eight_bit:
            frozen.update(frozen_columns(space, BIT_GENES, high_bits))
        gens = per_stage if i < 2 else max((budget - spent - config.population) // config.children, 0)
        result, run = _search(f"sequential_{stage}", stage_problems[i], GA, config, [*np.atleast_1d(seed), i],
                              config.population + gens * config.children, frozen)
        top = run.population.take([0])
        genome, spent = top.genomes[0], spent + result.queries
        notes["stages"].append({"stage": stage, "generations": gens, "queries": result.queries,
                                "predicted_acc": float(top.acc[0]), "latency_ms": float(top.latency_ms[0]),
                                "feasible": bool(top.feasible[0])})
        stages.append(result)
    return MethodResult("sequential", result.best, result.front, _chain([s.logbook for s in stages]), spent,
                        CandidateLog.chain([s.candidates for s in stages]), notes, pool=result.candidates)


def _chain(logbooks: list[tools.Logbook]) -> tools.Logbook:
    """One logbook of consecutive stages: generations and query counts continue across stages."""
    out, gen0, queries0 = new_logbook(), 0, 0
    for logbook in logbooks:
        for row in logbook:
            out.record(**{**row, "gen": row["gen"] + gen0, "queries": row["queries"] + queries0})
        gen0, queries0 = out[-1]["gen"] + 1, out[-1]["queries"]
    return out


def baselines(fp32_problem: Problem | None = None) -> dict:
    """The baselines by name, each a method of the shared signature (``fp32_problem``: see :func:`sequential`)."""
    return {"random": random_search, "uniform_w8a8": partial(uniform_precision, bits=8),
            "uniform_w4a4": partial(uniform_precision, bits=4),
            "sequential": partial(sequential, fp32_problem=fp32_problem),
            # last, so that adding it left every earlier baseline's seed ([seed, 2 + position]) as it was
            "uniform_w2a2": partial(uniform_precision, bits=2)}
