"""DEAP creator guard and the batch operators' feasibility-first choices."""
import warnings

import numpy as np
import pytest
from deap import base, creator

from apq.search.toolbox import ensure_creator_class, individual_class, select_feasible_best
from tests.helpers.search import batch


def test_creating_the_deap_classes_twice_is_safe():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # DEAP warns (RuntimeWarning) when a class is overwritten
        first = individual_class((1.0, -1.0))
        individual = first(np.arange(3))
        second = individual_class((1.0, -1.0))
    assert first is second is creator.ApqIndividualMaxMin
    assert isinstance(individual, second) and individual.fitness.weights == (1.0, -1.0)


def test_a_clashing_creator_class_is_a_programming_error():
    ensure_creator_class("ApqTestFitness", base.Fitness, weights=(1.0,))
    with pytest.raises(RuntimeError, match="weights"):
        ensure_creator_class("ApqTestFitness", base.Fitness, weights=(-1.0,))


def test_selection_is_feasible_first_and_counts_copies_once():
    b = batch([70, 95, 80, 80, 99, 60], [1, 1, 2, 2, 1, 1], violation=[0, 0, 0, 0, 0.5, 0.1])
    chosen = select_feasible_best(b, 4)
    np.testing.assert_array_equal(chosen.acc, [95, 80, 70, 60])  # the copy of (80, 2 ms) counts once
    np.testing.assert_array_equal(select_feasible_best(b, 6).acc, [95, 80, 70, 60, 99])
