"""The search problem (pymoo-style): a whole batch of genomes in, predicted accuracy and costs out.

One call of :meth:`Problem.evaluate` costs a batch with the vectorised cost table, encodes it with
:class:`apq.space.encoding.Encoder` and runs a single predictor forward pass over it. Nothing here
loops over candidates.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property
from typing import Protocol

import numpy as np

from apq.hardware.cost import CostTable, Costs
from apq.search.constraint import Constraint, cost_bounds
from apq.space.genome import Rules
from apq.space.encoding import Encoder


class AccuracyPredictor(Protocol):
    """Anything mapping encodings float32 (N, dim) to predicted top-1 accuracy in percent (N,)."""

    def predict(self, encodings: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Batch:
    """Evaluated candidates, each field an array over N rows.

    ``genomes`` int64 (N, n_genes); ``acc`` predicted top-1 (percent); ``latency_ms``, ``energy_mj``
    (NaN where the target cannot measure it), ``bitops``; ``violation`` = how far the constrained
    cost exceeds its limit, in the metric's unit (0 for feasible candidates).
    """

    genomes: np.ndarray
    acc: np.ndarray
    latency_ms: np.ndarray
    energy_mj: np.ndarray
    bitops: np.ndarray
    violation: np.ndarray

    def __len__(self) -> int:
        return len(self.acc)

    @property
    def feasible(self) -> np.ndarray:
        return self.violation <= 0

    def take(self, index) -> "Batch":
        """Rows ``index`` (an integer array, slice or boolean mask) as a new batch."""
        return Batch(self.genomes[index], self.acc[index], self.latency_ms[index], self.energy_mj[index],
                     self.bitops[index], self.violation[index])

    @staticmethod
    def concat(batches) -> "Batch":
        batches = list(batches)
        return Batch(**{f.name: np.concatenate([getattr(b, f.name) for b in batches]) for f in fields(Batch)})

    @staticmethod
    def empty(n_genes: int) -> "Batch":
        """A batch of no candidates."""
        nothing = np.zeros(0)
        return Batch(np.zeros((0, n_genes), dtype=np.int64), nothing, nothing, nothing, nothing, nothing)

    def metric(self, name: str) -> np.ndarray:
        """``acc`` or one of the cost metrics by name."""
        return getattr(self, name)

    def best_feasible(self) -> "Batch | None":
        """The feasible row with the highest predicted accuracy (one-row batch), or None."""
        if not self.feasible.any():
            return None
        acc = np.where(self.feasible, self.acc, -np.inf)
        return self.take([int(np.argmax(acc))])


class Problem:
    """Predicted accuracy and cost of genomes of ``table.space`` under ``constraint``.

    ``queries`` counts predictor queries (candidates passed to the predictor) since creation.
    ``quant``: the predictor reads the full encoding (fp32 + bit part); False for an fp32
    predictor, which reads the architecture part only (bits then change the cost, not the score).
    """

    def __init__(self, table: CostTable, predictor: AccuracyPredictor, constraint: Constraint, quant: bool = True):
        self.space, self.table = table.space, table
        self.encoder = Encoder(table.space)
        self.predictor, self.constraint, self.quant = predictor, constraint, quant
        self.queries = 0

    @cached_property
    def rules(self) -> Rules:
        """Validity rules of the space on the table's target."""
        return Rules(self.space, self.table.target.forbidden)

    @cached_property
    def latency_ref(self) -> float:
        """Latency (ms) of the space's most expensive valid genome: the hypervolume's fixed scale."""
        return cost_bounds(self.table, self.rules, "latency_ms")[1]

    def cost(self, genomes: np.ndarray) -> Costs:
        """Latency (ms), energy (mJ) and BitOps of genomes (N, n_genes), each (N,)."""
        return self.table.evaluate(genomes)

    def violation(self, costs: Costs) -> np.ndarray:
        """(N,) excess of the constrained metric over its limit (0 when within it)."""
        return np.maximum(costs.metric(self.constraint.metric) - self.constraint.limit, 0.0)

    def predict(self, genomes: np.ndarray) -> np.ndarray:
        """Predicted accuracy (N,) of genomes (N, n_genes): through the predictor's ``predict_hot``
        when it has one (same values, no dense encoding), else ``predict`` on the encodings."""
        if hasattr(self.predictor, "predict_hot"):
            return self.predictor.predict_hot(self.encoder.hot_indices(genomes, self.quant))
        return self.predictor.predict(self.encoder.encode(genomes, self.quant))

    def evaluate(self, genomes: np.ndarray, costs: Costs | None = None) -> Batch:
        """Evaluate genomes (N, n_genes) in one batch; ``costs`` may be passed if already known."""
        costs = self.cost(genomes) if costs is None else costs
        acc = np.asarray(self.predict(genomes), dtype=np.float64).reshape(-1)
        if acc.shape != (len(genomes),):
            raise ValueError(f"predictor returned {acc.shape} for {len(genomes)} candidates")
        self.queries += len(genomes)
        return Batch(genomes, acc, costs.latency_ms, costs.energy_mj, costs.bitops, self.violation(costs))
