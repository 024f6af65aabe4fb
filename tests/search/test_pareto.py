"""Pareto fronts and hypervolume on tiny hand-computed arrays."""
import numpy as np
import pytest

from apq.search.pareto import ParetoArchive, front_of, hypervolume, hypervolume_2d, non_dominated

from tests.helpers.search import batch


def test_non_dominated_2d_by_hand():
    points = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3], [5, 5]])  # (3,4) by (2,3); (5,5) by all
    np.testing.assert_array_equal(non_dominated(points), [True, True, False, True, False, False])


def test_non_dominated_3d_matches_2d_when_the_third_column_is_constant():
    rng = np.random.default_rng(0)
    points = rng.integers(0, 6, size=(40, 2)).astype(float)
    flat = np.column_stack([points, np.zeros(len(points))])
    np.testing.assert_array_equal(non_dominated(flat), non_dominated(points))


def test_non_dominated_3d_by_hand():
    points = np.array([[1, 1, 5], [1, 1, 4], [0, 2, 9], [2, 2, 5]])
    np.testing.assert_array_equal(non_dominated(points), [False, True, True, False])


def test_hypervolume_2d_by_hand():
    # points (error, cost): (0.5, 0.2) and (0.2, 0.6) -> 0.4*0.5 + 0.4*0.8 = 0.52
    assert hypervolume_2d([0.5, 0.2], [0.2, 0.6]) == pytest.approx(0.52)
    assert hypervolume_2d([0.5, 0.2, 0.6], [0.2, 0.6, 0.3]) == pytest.approx(0.52)  # a dominated point adds 0
    assert hypervolume_2d([], []) == 0.0
    assert hypervolume_2d([0.0], [1.5]) == 0.0  # beyond the reference point


def test_hypervolume_uses_feasible_rows_in_the_fixed_normalisation():
    b = batch([50.0, 80.0, 99.0], [2.0, 6.0, 1.0], violation=[0, 0, 3.0])
    assert hypervolume(b, latency_ref=10.0) == pytest.approx(hypervolume_2d([0.5, 0.2], [0.2, 0.6]))


def test_front_and_archive_keep_feasible_non_dominated_rows_sorted_by_latency():
    b = batch([70, 80, 75, 90, 95], [1, 2, 3, 4, 0.5], violation=[0, 0, 0, 0, 1])
    front = front_of(b)
    np.testing.assert_array_equal(front.acc, [70, 80, 90])
    archive = ParetoArchive()
    archive.update(b.take([0, 2]))
    archive.update(b.take([1, 3, 4]))
    np.testing.assert_array_equal(archive.front.acc, [70, 80, 90])
