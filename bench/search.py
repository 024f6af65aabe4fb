"""Search benchmark: candidates evaluated per second, end to end (docs/architecture.md, Measures).

    .venv/bin/python bench/search.py [--repeats 9] [--generations 300]

Writes ``results/bench/search.json``. One candidate = variation (block mutation or crossover),
validity repair, cost-table lookup, one-hot encoding and the predictor forward pass, all batched
per generation, inside the search loop with the APQ-style GA's selection (population 100, 50 + 50
children; every candidate logged as for ``candidates.csv.gz``); the rate is predictor queries /
wall seconds of a whole ``evolve`` run (seed population
included), median of ``--repeats`` runs with min and max, with the search's single torch thread
(and, for comparison, two, and the dense path: the predictor fed one-hot encodings through its
``predict`` instead of the hot-index ``predict_hot``). Also timed: the predictor alone on a batch of 100, the same pipeline
on batches of 1000, NSGA-II end to end, and the unbatched path (one candidate at a time through the same
operators: mutation, validity, cost, encoding, no predictor), which mirrors the structure of
APQ's own finder. Cases: ``imagenet-apq`` / ``bitfusion`` with an APQ-shaped predictor with random
weights (520 fp32 + 252 bit inputs -> 400 x 3 -> 1), and ``fmnist`` / ``fpga`` with the trained
predictor when ``predictors/fmnist/quant.pt`` exists, else an untrained network of the same shape.
``--before JSON`` keeps another commit's run of this benchmark (made just before, on this host) beside
this one's GA figures, so that a change's effect on throughput is read side by side.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.io import write_json
from apq.nn.runtime import torch_threads
from apq.report import bench_arguments
from apq.search.config import get_search_config
from apq.search.constraint import resolve_constraint
from apq.search.evolution import evolve
from apq.search.problem import Problem
from apq.search.selection import GA, Nsga2
from apq.search.variation import Variation
from apq.space.encoding import Encoder
from apq.space.genome import Rules
from apq.space.registry import create_space

CASES = (("imagenet-apq", "bitfusion"), ("fmnist", "fpga"))


def load_or_random_predictor(space):
    """(predictor, description): the trained quant predictor if present, else random APQ-shaped weights."""
    from apq.predictor.estimator import QuantMLPPredictor
    from apq.predictor.load import load_quant_predictor, predictor_path
    from apq.predictor.network import AccuracyMLP

    path = predictor_path(space.name, "quant")
    if path.exists():
        predictor = load_quant_predictor(space, path)
        return predictor, f"trained predictor {path} (network {predictor.network_.shape()})"
    encoder = Encoder(space)
    torch.manual_seed(0)
    net = AccuracyMLP(encoder.fp32_dim, encoder.dim - encoder.fp32_dim, hidden_size=400, n_layers=3)
    predictor = QuantMLPPredictor(encoder.fp32_dim).set_network(net, 0.0)
    return predictor, (f"untrained (random weights) APQ-shaped predictor: {encoder.fp32_dim} fp32 + "
                       f"{encoder.dim - encoder.fp32_dim} bit inputs -> 400 x 3 -> 1")


class DenseOnly:
    """The predictor seen through ``predict`` alone, so the search takes the dense path
    (one-hot matrix, full first-layer product): the before of the hot-index fast path."""

    def __init__(self, predictor):
        self.predictor = predictor

    def predict(self, encodings):
        return self.predictor.predict(encodings)


def rates(run, repeats: int) -> dict:
    """Median / min / max of ``run()`` -> (candidates, seconds) over ``repeats`` runs."""
    values = []
    for _ in range(repeats):
        count, seconds = run()
        values.append(count / seconds)
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": repeats}


def timed_search(selection, problem, variation, config, seed):
    def run():
        start_queries, start = problem.queries, time.perf_counter()
        evolve(problem, variation, selection, config, seed)
        return problem.queries - start_queries, time.perf_counter() - start
    return run


def unbatched_path(problem, variation, config, n: int):
    """One candidate at a time: mutate, repair, cost, encode (no predictor), as APQ's finder does."""
    def run():
        rng = np.random.default_rng(0)
        genome = variation.sample(1, rng)
        start = time.perf_counter()
        for _ in range(n):
            child = variation.mutate(genome, rng, config.block_mutation_prob, config.genes_per_block)
            problem.cost(child)
            problem.encoder.encode(child)
            genome = child
        return n, time.perf_counter() - start
    return run


def batch_pipeline(problem, variation, config, batch: int = 1000, n: int = 30):
    """Variation, validity, cost, encoding and one predictor pass on ``batch``-row batches
    (half mutants, half crossovers of a fixed parent set): what batches larger than a GA
    generation (random search chunks, bigger offspring) get per candidate."""
    def run():
        rng = np.random.default_rng(2)
        parents = variation.sample(config.n_parents, rng)
        start = time.perf_counter()
        for _ in range(n):
            picks = rng.integers(len(parents), size=(3, batch // 2))
            genomes = np.concatenate([
                variation.mutate(parents[picks[0]], rng, config.block_mutation_prob, config.genes_per_block),
                variation.crossover(parents[picks[1]], parents[picks[2]], rng)])
            problem.evaluate(genomes)
        return batch * n, time.perf_counter() - start
    return run


def predictor_only(problem, variation, batch: int = 100, n: int = 300):
    encodings = problem.encoder.encode(variation.sample(batch, np.random.default_rng(1)))

    def run():
        start = time.perf_counter()
        for _ in range(n):
            problem.predictor.predict(encodings)
        return batch * n, time.perf_counter() - start
    return run


def bench_case(space_name: str, target_name: str, generations: int, repeats: int) -> dict:
    space, target = create_space(space_name), create_target(target_name)
    table, rules = CostTable(space, target), Rules(space, target.forbidden)
    config = get_search_config("default").override(generations=generations)
    constraint = resolve_constraint(table, rules, None, None, config.default_budget_samples, 0)
    predictor, described = load_or_random_predictor(space)
    problem, variation = Problem(table, predictor, constraint), Variation(space, rules)
    nsga_config = config.override(generations=max(generations // 3, 1))
    with torch_threads(2):  # the alternative to the search's single torch thread
        two_threads = rates(timed_search(GA, problem, variation, config, 0), repeats)
    dense = rates(timed_search(GA, Problem(table, DenseOnly(predictor), constraint), variation, config, 0), repeats)
    return {"space": space_name, "target": target_name, "predictor": described,
            "constraint": constraint.to_dict(), "ga_generations": generations,
            "queries_per_ga_run": config.queries,
            "candidates_per_s": rates(timed_search(GA, problem, variation, config, 0), repeats),
            "candidates_per_s_torch_2_threads": two_threads,
            "candidates_per_s_dense_predict": dense,
            "nsga2_candidates_per_s": rates(timed_search(Nsga2(), problem, variation, nsga_config, 0), repeats),
            "predictor_only_per_s_batch100": rates(predictor_only(problem, variation), repeats),
            "batch1000_pipeline_per_s": rates(batch_pipeline(problem, variation, config), repeats),
            "unbatched_path_per_s_no_predictor": rates(unbatched_path(problem, variation, config, 3000), repeats)}


def earlier_run(path: str) -> dict:
    """GA throughput of this benchmark's JSON at ``path`` (another commit's run), to set beside this
    run's: its stamp (commit, date) and, per case ``space/target``, the median, min and max
    candidates per second. Raises ValueError for a file that is not such a JSON."""
    try:
        report = json.loads(Path(path).read_text())
        return {"recorded": report.get("recorded"),
                "candidates_per_s": {f"{c['space']}/{c['target']}": c["candidates_per_s"] for c in report["cases"]}}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--before {path}: not a JSON of this benchmark ({type(err).__name__}: {err})") from err


def main() -> None:
    parser = bench_arguments(__doc__, "search", repeats=9)
    parser.add_argument("--generations", type=int, default=300)
    parser.add_argument("--before", help="this benchmark's JSON from another commit, run on this host just before: "
                                         "its GA medians are kept beside this run's (``before``)")
    args = parser.parse_args()
    try:
        before = earlier_run(args.before) if args.before else None
    except ValueError as err:
        parser.error(str(err))
    load_before = os.getloadavg()
    threads = get_search_config("default").torch_threads
    with torch_threads(threads):
        cases = [bench_case(s, t, args.generations, args.repeats) for s, t in CASES]
    report = {"cases": cases, "torch_threads_while_searching": threads, "cpu_count": os.cpu_count(),
              "load_average_before": load_before, "load_average_after": os.getloadavg(),
              "unbatched_path_note": "this project's operators called on one genome at a time (the structure of "
                                     "APQ's evolution finder); not APQ's code, and no predictor",
              "target_candidates_per_s": 50000}
    if before:
        report["before"] = before
    write_json(args.out, report)
    for c in cases:
        print(f"{c['space']:>13} / {c['target']:<9} GA {c['candidates_per_s']['median']:>9,.0f} candidates/s  "
              f"(dense path {c['candidates_per_s_dense_predict']['median']:>7,.0f})  "
              f"NSGA-II {c['nsga2_candidates_per_s']['median']:>8,.0f}/s  predictor alone "
              f"{c['predictor_only_per_s_batch100']['median']:>9,.0f}/s  unbatched {c['unbatched_path_per_s_no_predictor']['median']:>7,.0f}/s")
    print(f"wrote {args.out} (load average {load_before[0]:.1f} -> {report['load_average_after'][0]:.1f})")


if __name__ == "__main__":
    main()
