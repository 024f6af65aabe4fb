"""Every evaluated candidate of a run: collected batch by batch, written as ``candidates.csv.gz``.

One row per predictor query, in query order per method: ``method``, ``generation`` (0 = the
random seed population; the sequential baseline's stages continue one another's count),
``predicted_acc`` (percent, of the predictor that scored it: the sequential baseline's
architecture and pruning stages use the fp32 one when given), ``latency_ms``, ``energy_mj``
(blank where the target cannot measure energy), ``bitops``, ``feasible`` (1 within the run's
constraint, else 0) and ``genome`` (:func:`apq.space.genome.genomes_to_text`; read it back with
:func:`read_candidates`). gzip, because a default run with baselines queries ~300,000 candidates
and the text compresses five-fold (method names and genomes repeat).
"""
from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np

from apq.io import atomic_path
from apq.search.constraint import Constraint
from apq.search.problem import Batch
from apq.space.genome import genomes_from_text, genomes_to_text
from apq.space.space import SearchSpace

CANDIDATES = "candidates.csv.gz"
#: gzip level: see :func:`write_candidates`.
COMPRESS_LEVEL = 1
CANDIDATE_FIELDS = ("method", "generation", "predicted_acc", "latency_ms", "energy_mj", "bitops", "feasible",
                    "genome")


class CandidateLog:
    """Evaluated batches of one search with their generation; appending is the only per-batch cost.

    Genomes are kept as uint8 where every choice index fits (a default run holds ~60,000 rows
    per method).
    """

    def __init__(self, space: SearchSpace):
        self.space = space
        self._dtype = np.uint8 if int(space.cardinality.max()) <= 256 else np.int64
        self._batches: list[Batch] = []
        self._generations: list[tuple[int, int]] = []
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    def add(self, batch: Batch, generation: int) -> None:
        self._batches.append(Batch(batch.genomes.astype(self._dtype), batch.acc, batch.latency_ms,
                                   batch.energy_mj, batch.bitops, batch.violation))
        self._generations.append((generation, len(batch)))
        self._rows += len(batch)

    def batch(self) -> Batch:
        """Every candidate in query order (genomes in the compact dtype)."""
        if not self._batches:
            return Batch.empty(self.space.n_genes)
        return Batch.concat(self._batches)

    def generations(self) -> np.ndarray:
        """Generation of each row of :meth:`batch`, int64 (N,)."""
        if not self._generations:
            return np.zeros(0, dtype=np.int64)
        gens, sizes = np.asarray(self._generations, dtype=np.int64).T
        return np.repeat(gens, sizes)

    @classmethod
    def chain(cls, logs: list["CandidateLog"]) -> "CandidateLog":
        """One log of consecutive searches (stages): each one's generations continue the last's."""
        out = cls(logs[0].space)
        offset = 0
        for log in logs:
            out._batches += log._batches
            out._generations += [(g + offset, n) for g, n in log._generations]
            out._rows += log._rows
            offset = out._generations[-1][0] + 1 if out._generations else offset
        return out


def _numbers(values: np.ndarray) -> list[str]:
    """``%.6g`` text of each value, blank where it is not finite (a target without energy)."""
    text = list(map("{:.6g}".format, values.tolist()))
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        text[i] = ""
    return text


def _lines(method: str, log: CandidateLog, space: SearchSpace, constraint: Constraint) -> str:
    """The CSV lines of one method's candidates (each column formatted in one pass over its array)."""
    batch, generations = log.batch(), log.generations()
    feasible = batch.metric(constraint.metric) <= constraint.limit
    columns = ([method] * len(batch), np.arange(generations.max(initial=0) + 1).astype(str)[generations].tolist(),
               _numbers(batch.acc), _numbers(batch.latency_ms), _numbers(batch.energy_mj), _numbers(batch.bitops),
               np.array(["0", "1"])[feasible.astype(np.int64)].tolist(), genomes_to_text(space, batch.genomes).tolist())
    lines = "\n".join(map(",".join, zip(*columns)))
    return lines + "\n" if lines else ""


def write_candidates(path: Path, space: SearchSpace, logs: dict[str, CandidateLog], constraint: Constraint) -> None:
    """Write every candidate of ``logs`` ({method: log}) to the gzip CSV ``path`` (atomically).

    ``feasible`` is judged against ``constraint``, the run's (NSGA-II may search without one).
    Plain text joins (method names hold no comma or quote); gzip level 1: faster than level 6
    (about 1.6x) for a file about a third larger.
    """
    text = ",".join(CANDIDATE_FIELDS) + "\n" + "".join(
        _lines(m, log, space, constraint) for m, log in logs.items())
    data = gzip.compress(text.encode("ascii"), compresslevel=COMPRESS_LEVEL, mtime=0)
    with atomic_path(Path(path)) as tmp:
        Path(tmp).write_bytes(data)


def read_candidates(path: Path, space: SearchSpace) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """(columns, genomes) of a candidates file: each numeric column a float array (NaN for
    blank), ``method`` a string array, ``generation`` and ``feasible`` int arrays; genomes int64
    (N, n_genes)."""
    with gzip.open(path, "rt", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = list(reader)
    if tuple(header) != CANDIDATE_FIELDS:
        raise ValueError(f"{path}: columns {header} are not {list(CANDIDATE_FIELDS)}")
    columns = dict(zip(header, map(list, zip(*rows)))) if rows else {f: [] for f in header}
    out = {name: np.asarray(columns[name], dtype=str) for name in CANDIDATE_FIELDS[:-1]}
    for name in ("generation", "feasible"):
        out[name] = out[name].astype(np.int64)
    for name in ("predicted_acc", "latency_ms", "energy_mj", "bitops"):
        out[name] = np.where(out[name] == "", "nan", out[name]).astype(np.float64)
    return out, genomes_from_text(space, columns["genome"])
