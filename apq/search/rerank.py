"""Re-ranking by measurement: each method's winner is the best *measured* of its top candidates.

The predictor's argmax over a large space is over-predicted (the winner's curse: among many
candidates of similar true accuracy, the one whose prediction erred upwards most wins). So after
the searches, each method's shortlist (:func:`shortlist`: its predicted winner, then the next
best predicted feasible genomes that build distinct sub-nets, ``SearchConfig.rerank_k`` in all) is evaluated for
real on the validation split with the quantized samples' procedure (BN re-calibration, range
calibration, the short fine-tune: :func:`apq.quant.pipeline.evaluate_quantized` in a context
loaded by :func:`apq.samples.evaluate.context`), and the best measured one becomes the method's
winner. The test split stays untouched (``apq verify`` alone reads it).

Every method (the joint search and each baseline) gets the same k. Genomes that differ only in
genes of dropped blocks build the same sub-net (:meth:`SearchSpace.canonical`): a shortlist holds
each sub-net once (otherwise a uniform baseline's k candidates can be one network measured k
times, and the best of them only the luckiest draw of its noise). A sub-net's evaluation is seeded
by its canonical genome (:func:`measure_seed`), so it measures the same wherever it appears (two
methods sharing a candidate pay for it once), whatever the worker count or backend. The
evaluations run through the samples' parallel engine (:func:`apq.samples.parallel.backend_context`:
joblib processes here, dask or ray on a cluster). k = 1 measures nothing and changes nothing.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

import numpy as np
from joblib import Parallel, delayed

from apq.errors import UserError
from apq.nn.runtime import torch_threads
from apq.quant.pipeline import evaluate_quantized
from apq.samples.evaluate import SampleJob, context, release_context
from apq.samples.parallel import backend_context
from apq.search.constraint import Constraint
from apq.search.problem import Batch
from apq.space.space import SearchSpace
from apq.space.spec import genome_string

log = logging.getLogger(__name__)

#: Stream of :class:`numpy.random.SeedSequence` entropy that re-ranking seeds come from (the
#: samples use their kind's index, 0 and 1), so a re-ranking evaluation never repeats a sample's draws.
SEED_STREAM = 17


@dataclass(frozen=True)
class Reranker:
    """How to measure shortlisted genomes: ``job`` (a quantized :class:`SampleJob`: space, preset,
    sample and quantization settings, supernet, dataset folder) and the parallel engine (``jobs``
    workers on ``backend``, at ``address`` for a cluster). How many: ``SearchConfig.rerank_k``."""

    job: SampleJob
    jobs: int = 1
    backend: str = "loky"
    address: str | None = None

    def check(self) -> None:
        """Load the supernet and the data here first, so that a missing or mismatched one is a
        :class:`UserError` before minutes of search, not after."""
        try:
            context(self.job)
        except UserError as err:
            raise UserError(f"{err} (the search measures its best candidates with it; "
                            "--set search.rerank_k=1 searches without measuring)") from None
        if self.in_process:
            return
        release_context()  # the workers load their own

    @property
    def in_process(self) -> bool:
        return self.jobs == 1 and self.backend == "loky" and not self.address

    def describe(self) -> dict:
        """What the measurements depend on (config.json's ``rerank``)."""
        return {"split": "val", "val_images": self.job.samples.val_images("quant"),
                "quant": self.job.quant.to_dict(), "supernet": self.job.supernet_path}


def measure_seed(base_seed: int, genome: np.ndarray) -> int:
    """Seed of a re-ranking evaluation: a function of (preset seed, canonical genome) only."""
    entropy = [base_seed, SEED_STREAM, *np.asarray(genome, dtype=np.int64).tolist()]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])


def measure_genome(job: SampleJob, genome: np.ndarray, seed: int) -> dict:
    """Validation accuracy (percent) and loss of ``genome`` quantized and fine-tuned as a quantized
    sample is; run by a worker (or in process)."""
    with torch_threads(job.threads):
        ctx = context(job)
        started = time.perf_counter()
        result = evaluate_quantized(ctx.supernet, np.asarray(genome, dtype=np.int64), ctx.data, job.quant, seed=seed)
    return {"val_acc": float(result.accuracy), "val_loss": float(result.loss),
            "seconds": round(time.perf_counter() - started, 2)}


def measure(reranker: Reranker, genomes: list[np.ndarray]) -> list[dict]:
    """:func:`measure_genome` of each genome (in order), through the samples' parallel engine."""
    seeds = [measure_seed(reranker.job.preset.seed, g) for g in genomes]
    if reranker.in_process:
        try:
            return [measure_genome(reranker.job, g, s) for g, s in zip(genomes, seeds)]
        finally:
            release_context()
    jobs = max(1, min(reranker.jobs, len(genomes)))
    with backend_context(reranker.backend, jobs, reranker.address):
        return Parallel(n_jobs=jobs, batch_size=1)(delayed(measure_genome)(reranker.job, g, s)
                                                   for g, s in zip(genomes, seeds))


def shortlist(space: SearchSpace, pool: Batch, sources: np.ndarray, first: Batch, first_source: str,
              constraint: Constraint, k: int, min_distance: int = 1) -> tuple[Batch, list[str]]:
    """Up to ``k`` genomes of distinct sub-nets within ``constraint``: ``first`` (the method's
    predicted winner), then the rest of ``pool`` best predicted first (ties: lower latency first),
    each differing from every one taken before in at least ``min_distance`` genes of its canonical
    genome (1: any other sub-net). ``sources`` (N,) names the method that found each pool row;
    returns the rows and their sources."""
    feasible = np.flatnonzero(pool.metric(constraint.metric) <= constraint.limit)
    order = feasible[np.lexsort((pool.latency_ms[feasible], -pool.acc[feasible]))]
    taken, picked = space.canonical(first.genomes[:1]), []
    for rows, canonical in _canonical_chunks(space, pool.genomes, order):
        while len(picked) + 1 < k:
            distance = np.count_nonzero(canonical[:, None, :] != taken[None], axis=2).min(axis=1)  # (chunk,)
            far = np.flatnonzero(distance >= min_distance)
            if not len(far):
                break
            taken = np.vstack([taken, canonical[far[0]]])
            picked.append(int(rows[far[0]]))
            rows, canonical = rows[far[0] + 1:], canonical[far[0] + 1:]
        if len(picked) + 1 >= k:
            break
    rows = pool.take(np.asarray(picked, dtype=np.int64))
    rows = replace(rows, genomes=rows.genomes.astype(np.int64))
    return Batch.concat([first, rows]), [first_source] + [str(s) for s in sources[picked]]


def _canonical_chunks(space: SearchSpace, genomes: np.ndarray, order: np.ndarray, chunk: int = 256):
    """(rows (C,), their canonical genomes (C, n_genes)) of ``order``, a chunk at a time: a
    shortlist scan stops after a few rows, and a whole search's pool (~360k rows) would cost
    ~0.4 s and ~185 MB to canonicalise at once."""
    for start in range(0, len(order), chunk):
        rows = order[start:start + chunk]
        yield rows, space.canonical(genomes[rows])


@dataclass
class Shortlist:
    """One method's shortlist and, once measured, its validation results (``measured``, aligned)."""

    rows: Batch
    sources: list[str]
    measured: list[dict] | None = None

    @property
    def chosen(self) -> int:
        """Row of the best measured candidate (the first, best predicted, among equals)."""
        return int(np.argmax([m["val_acc"] for m in self.measured]))

    def records(self, space: SearchSpace) -> list[dict]:
        """``reranked`` of best.json: genome, predicted and validation accuracy of each candidate."""
        chosen = self.chosen
        return [{"genome": self.rows.genomes[i].tolist(), "arch": genome_string(space, self.rows.genomes[i]),
                 "method": self.sources[i], "predicted_acc": float(self.rows.acc[i]),
                 "latency_ms": float(self.rows.latency_ms[i]), **self.measured[i], "chosen": i == chosen}
                for i in range(len(self.rows))]


def measure_shortlists(reranker: Reranker, shortlists: dict[str, Shortlist], space: SearchSpace) -> float:
    """Measure every shortlisted sub-net once (by its canonical genome; one on several lists is
    shared); fills each list's ``measured``. Returns the wall seconds spent."""
    started = time.perf_counter()
    canonical = {name: space.canonical(entry.rows.genomes) for name, entry in shortlists.items()}
    unique: dict[bytes, np.ndarray] = {}
    for genomes in canonical.values():
        for genome in genomes:
            unique.setdefault(genome.tobytes(), genome)
    log.info("re-ranking: measuring %d distinct candidates of %d methods on the validation split",
             len(unique), len(shortlists))
    results = dict(zip(unique, measure(reranker, list(unique.values()))))
    for name, entry in shortlists.items():
        entry.measured = [results[g.tobytes()] for g in canonical[name]]
    return time.perf_counter() - started
