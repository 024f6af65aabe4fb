"""Pareto fronts (accuracy up, costs down), their 2-D hypervolume, and a running front archive.

Hypervolume (docs/architecture.md, Measures) is measured on the (error, latency) front in a fixed
normalisation: error = (100 - predicted accuracy) / 100 and latency / ``latency_ref``, where
``latency_ref`` is the space's most expensive valid genome on the target; the reference point is
(1, 1). Values are in [0, 1] and comparable between runs of one space and target.
"""
from __future__ import annotations

import numpy as np

from apq.search.problem import Batch


def non_dominated(points: np.ndarray) -> np.ndarray:
    """Boolean (N,) mask of the non-dominated rows of ``points`` (N, M), every column minimised.

    Of several identical points only the first is kept.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=bool)
    if points.shape[1] == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))  # by first column, ties by the second
        second = points[order, 1]
        best_before = np.concatenate([[np.inf], np.minimum.accumulate(second)[:-1]])
        keep = np.zeros(n, dtype=bool)
        keep[order] = second < best_before
        return keep
    le = np.all(points[:, None, :] <= points[None, :, :], axis=2)
    lt = np.any(points[:, None, :] < points[None, :, :], axis=2)
    dominated = np.any(le & lt, axis=0)
    same = np.all(points[:, None, :] == points[None, :, :], axis=2)
    duplicate = np.any(np.tril(same, k=-1), axis=1)
    return ~dominated & ~duplicate


def minimisation_points(batch: Batch, costs: tuple[str, ...]) -> np.ndarray:
    """(N, 1 + len(costs)): error (100 - accuracy) and the named cost columns."""
    return np.column_stack([100.0 - batch.acc] + [batch.metric(c) for c in costs])


def front_of(batch: Batch, costs: tuple[str, ...] = ("latency_ms",)) -> Batch:
    """Feasible, non-dominated rows of ``batch``, sorted by the first cost."""
    feasible = batch.take(batch.feasible)
    front = feasible.take(non_dominated(minimisation_points(feasible, costs)))
    return front.take(np.argsort(front.metric(costs[0]), kind="stable"))


def hypervolume_2d(error: np.ndarray, cost: np.ndarray) -> float:
    """Area dominated by points (error, cost), both already normalised, up to reference (1, 1)."""
    error = np.clip(np.asarray(error, dtype=np.float64), 0.0, 1.0)
    cost = np.clip(np.asarray(cost, dtype=np.float64), 0.0, 1.0)
    keep = non_dominated(np.column_stack([cost, error]))
    cost, error = cost[keep], error[keep]
    order = np.argsort(cost)
    cost, error = cost[order], error[order]
    widths = np.diff(np.concatenate([cost, [1.0]]))
    return float(np.sum(widths * (1.0 - error)))


def hypervolume(batch: Batch, latency_ref: float) -> float:
    """Normalised (error, latency) hypervolume of the feasible rows of ``batch`` (see module docstring)."""
    feasible = batch.take(batch.feasible)
    return hypervolume_2d((100.0 - feasible.acc) / 100.0, feasible.latency_ms / latency_ref)


class ParetoArchive:
    """Feasible non-dominated set of everything a search evaluated, over (accuracy, ``costs``)."""

    def __init__(self, costs: tuple[str, ...] = ("latency_ms",)):
        self.costs = tuple(costs)
        self.front: Batch | None = None

    def update(self, batch: Batch) -> None:
        """Merge a newly evaluated batch into the front."""
        merged = batch if self.front is None else Batch.concat([self.front, batch])
        self.front = front_of(merged, self.costs)
