"""One search run: the joint GA under the constraint, NSGA-II for the front, and the baselines.

- The joint winner is the most accurate feasible candidate the joint searches found: the GA's
  best, or a member of the NSGA-II front if one is better and within the limit.
- The front: NSGA-II runs under the user's constraint; without one (the default budget only picks
  the winner) it runs unconstrained, so the front spans the whole space. The GA's archive joins it.
- Baselines (``with_baselines``) use the run's constraint and the joint search's whole query
  budget (GA + NSGA-II), since the winner may come from either.
- Re-ranking (``SearchConfig.rerank_k`` > 1, :mod:`apq.search.rerank`): each method's top
  candidates are measured on the validation split and its winner is the best measured one; the
  joint search's shortlist is drawn from everything the GA and NSGA-II evaluated within the limit.
  With ``SearchConfig.rerank_bit_floors`` the joint GA's budget is split between the unrestricted
  GA and one GA per bit floor (every width at the floor or wider), and the k measurements between
  them (:func:`floor_shares`): where the predictor over-rates the narrowest widths, a floored
  candidate can win on measurement. Off by default: docs/decisions.md ("Search") says why.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apq import __version__
from apq.errors import UserError
from apq.hardware.cost import CostTable
from apq.nn.runtime import torch_threads
from apq.presets import Preset
from apq.search import methods
from apq.search.candidates import CANDIDATES, write_candidates
from apq.search.config import SearchConfig
from apq.search.constraint import Constraint, cost_bounds
from apq.search.outputs import staged_run_dir, write_run
from apq.search.pareto import front_of
from apq.search.problem import AccuracyPredictor, Batch, Problem
from apq.search.rerank import Reranker, Shortlist, measure_shortlists, shortlist
from apq.space.genome import Rules
from apq.space.space import SearchSpace

log = logging.getLogger(__name__)


@dataclass
class SearchOutcome:
    """Everything a run reports: the winner, the joint front, per-method results."""

    constraint: Constraint
    front_costs: tuple[str, ...]
    winner: Batch | None
    winner_method: str
    front: Batch
    joint: list[methods.MethodResult]
    baselines: dict[str, methods.MethodResult] = field(default_factory=dict)
    #: {"joint" or baseline name: its measured shortlist} once re-ranked (empty: k = 1).
    reranked: dict[str, Shortlist] = field(default_factory=dict)

    @property
    def queries(self) -> int:
        return sum(r.queries for r in self.joint + list(self.baselines.values()))

    def candidate_logs(self) -> dict:
        """{method: :class:`~apq.search.candidates.CandidateLog`} of every method run."""
        return {r.name: r.candidates for r in self.joint + list(self.baselines.values())}


def run_search(table: CostTable, predictor: AccuracyPredictor, constraint: Constraint, config: SearchConfig,
               seed: int, with_baselines: bool = False, fp32_predictor: AccuracyPredictor | None = None) -> SearchOutcome:
    """Run the joint search (and baselines) of ``table.space`` on ``table.target``.

    ``predictor`` reads full encodings (quantization-aware); ``fp32_predictor`` (optional, the
    architecture part only) scores the sequential baseline's architecture and pruning stages."""
    with torch_threads(config.torch_threads):
        return _run_search(table, predictor, constraint, config, seed, with_baselines, fp32_predictor)


def _run_search(table: CostTable, predictor: AccuracyPredictor, constraint: Constraint, config: SearchConfig,
                seed: int, with_baselines: bool, fp32_predictor: AccuracyPredictor | None) -> SearchOutcome:
    problem = Problem(table, predictor, constraint)
    floors = bit_floors(table.space, config)
    ga_budget, *floor_budgets = methods.split_budget(config, config.queries, 1 + len(floors))
    log.info("joint GA under %s <= %.4g (%d generations)", constraint.metric, constraint.limit, config.generations)
    ga_result = methods.joint_ga(problem, config, [seed, 0], ga_budget)
    floored = [methods.floored_ga(problem, config, [seed, 0, bits], budget, bits=bits)
               for bits, budget in zip(floors, floor_budgets)]
    front_constraint = constraint if constraint.source == "user" else Constraint(constraint.metric, np.inf, "none")
    log.info("NSGA-II front over accuracy and %s", ", ".join(constraint.front_costs))
    nsga = methods.nsga2_front(Problem(table, predictor, front_constraint), config, [seed, 1])
    front = front_of(Batch.concat([nsga.front, ga_result.front]), constraint.front_costs)
    winner, method = _joint_winner(ga_result, front, constraint)
    outcome = SearchOutcome(constraint, constraint.front_costs, winner, method, front, [ga_result, nsga, *floored])
    if with_baselines:
        fp32_problem = None if fp32_predictor is None else Problem(table, fp32_predictor, constraint, quant=False)
        outcome.baselines = run_baselines(problem, config, seed, outcome.queries, fp32_problem)
    return outcome


def bit_floors(space: SearchSpace, config: SearchConfig) -> tuple[int, ...]:
    """The bit floors the joint search runs: none without re-ranking, and none at the space's
    narrowest width (it restricts nothing; e.g. 4 on the APQ menu 4/6/8). UserError for a width
    the space lacks, or for more floors than leave each one measurement beside the unrestricted GA's."""
    if config.rerank_k == 1:
        return ()
    missing = [b for b in config.rerank_bit_floors if methods.bit_index(space, b) is None]
    if missing:
        raise UserError(f"search.rerank_bit_floors holds {', '.join(map(str, missing))}, which space '{space.name}' "
                        f"does not offer; use widths of {', '.join(map(str, space.bit_choices))}")
    floors = tuple(b for b in config.rerank_bit_floors if b > min(space.bit_choices))
    if len(floors) > config.rerank_k - 1:
        raise UserError(f"search.rerank_bit_floors holds {len(floors)} floors but search.rerank_k = {config.rerank_k} "
                        f"measures only {config.rerank_k - 1} beside the unrestricted GA's; raise rerank_k or drop floors")
    return floors


def floor_shares(k: int, groups: int) -> list[int]:
    """Measurements per candidate group: each floor ``k // groups``, the unrestricted search the rest."""
    return [k - (groups - 1) * (k // groups)] + [k // groups] * (groups - 1)


def _joint_winner(ga_result: methods.MethodResult, front: Batch, constraint: Constraint) -> tuple[Batch | None, str]:
    within = front.take(front.metric(constraint.metric) <= constraint.limit)
    candidates = [(b, name) for b, name in ((ga_result.best, "ga"), (within.best_feasible(), "nsga2")) if b is not None]
    if not candidates:
        return None, "none"
    return max(candidates, key=lambda c: float(c[0].acc[0]))


def rerank(space: SearchSpace, outcome: SearchOutcome, reranker: Reranker, k: int, min_distance: int = 1) -> float:
    """Measure each method's shortlist of ``k`` (sub-nets ``min_distance`` genes apart) and make its best measured candidate its winner
    (``outcome.winner``/``winner_method`` for the joint search, ``best`` for a baseline); fills
    ``outcome.reranked``. Returns the wall seconds spent measuring."""
    ga, nsga, *floored = outcome.joint
    pool = Batch.concat([ga.candidates.batch(), nsga.candidates.batch()])
    sources = np.repeat(np.array(["ga", "nsga2"]), [len(ga.candidates), len(nsga.candidates)])
    groups = [(pool, sources, outcome.winner, outcome.winner_method)]
    groups += [(r.candidates.batch(), np.full(len(r.candidates), r.name), r.best, r.name)
               for r in floored if r.best is not None]
    parts = [shortlist(space, *group, outcome.constraint, share, min_distance)
             for group, share in zip(groups, floor_shares(k, len(groups))) if share]
    lists = {"joint": Shortlist(Batch.concat([rows for rows, _ in parts]), [s for _, names in parts for s in names])}
    for name, result in outcome.baselines.items():
        if result.best is not None:
            rows = result.rerank_pool.batch()
            lists[name] = Shortlist(*shortlist(space, rows, np.full(len(rows), name), result.best, name,
                                               outcome.constraint, k, min_distance))
    seconds = measure_shortlists(reranker, lists, space)
    for name, entry in lists.items():
        best = entry.rows.take([entry.chosen])
        if name == "joint":
            outcome.winner, outcome.winner_method = best, entry.sources[entry.chosen]
        else:
            outcome.baselines[name].best = best
    outcome.reranked = lists
    return seconds


def run_baselines(problem: Problem, config: SearchConfig, seed: int, budget: int,
                  fp32_problem: Problem | None = None) -> dict[str, methods.MethodResult]:
    """Every method of :func:`apq.search.methods.baselines`, each with at most ``budget`` queries
    (``fp32_problem``: see :func:`apq.search.methods.sequential`); a uniform baseline whose bit
    width the space lacks is left out."""
    results = {}
    for i, (name, method) in enumerate(methods.baselines(fp32_problem).items()):
        log.info("baseline: %s", name)
        result = method(problem, config, [seed, 2 + i], budget)
        if result is not None:
            results[name] = result
    return results


def search_and_write(run_dir: Path, table: CostTable, predictor: AccuracyPredictor, predictor_info: dict,
                     constraint: Constraint, config: SearchConfig, preset: Preset, seed: int,
                     with_baselines: bool, fp32_predictor: AccuracyPredictor | None = None,
                     reranker: Reranker | None = None) -> dict:
    """Run the search and write its run folder (all files or none); returns the ``best.json`` record.

    ``reranker``: how to measure the shortlists when ``config.rerank_k`` > 1 (needed then).
    :class:`UserError` (and no run folder) if no candidate within the limit was found.
    """
    space, rules = table.space, Rules(table.space, table.target.forbidden)
    reranking = config.rerank_k > 1
    if reranking:
        if reranker is None:
            raise ValueError("search.rerank_k > 1 needs a reranker (the supernet and data to measure with)")
        reranker.check()
    started = time.perf_counter()
    outcome = run_search(table, predictor, constraint, config, seed, with_baselines, fp32_predictor)
    if outcome.winner is None:
        low = cost_bounds(table, rules, constraint.metric)[0]
        raise UserError(f"no genome within {constraint.metric} <= {constraint.limit:.6g} found in "
                        f"{config.generations} generations (the cheapest costs {low:.6g}); loosen the limit "
                        "or raise --generations")
    seconds = time.perf_counter() - started
    rerank_seconds = rerank(space, outcome, reranker, config.rerank_k, config.rerank_min_distance) if reranking else 0.0
    context = {"space": space.name, "target": table.target.name, "run": run_dir.name}
    resolved = {**context, "apq_version": __version__, "seed": seed, "preset": preset.to_dict(),
                "search": config.to_dict(), "constraint": constraint.to_dict(),
                "feasible_range": {m: list(cost_bounds(table, rules, m)) for m in _metrics(table)},
                "front_objectives": ["predicted_acc", *outcome.front_costs], "baselines": with_baselines,
                "predictor": predictor_info, "space_config": space.describe(), "target_config": table.target.describe(),
                "queries": outcome.queries, "search_seconds": round(seconds, 3)}
    if reranking:
        resolved["rerank"] = {**reranker.describe(), "seconds": round(rerank_seconds, 3)}
    with staged_run_dir(run_dir) as staging:
        best = write_run(staging, space, outcome, resolved, context)
        write_candidates(staging / CANDIDATES, space, outcome.candidate_logs(), constraint)
    log.info("searched %d candidates in %.1f s (re-ranking: %.1f s); wrote %s", outcome.queries, seconds,
             rerank_seconds, run_dir)
    return best


def _metrics(table: CostTable) -> tuple[str, ...]:
    return ("latency_ms", "energy_mj") if table.target.has_energy else ("latency_ms",)
