"""Search fixtures: honest stand-in predictors with known optima, a tiny enumerable space, CLI helpers."""
import numpy as np
import pytest

from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.space.encoding import Encoder
from apq.space.genome import Rules

from tests.helpers.search import LinearScore


@pytest.fixture(scope="module")
def fpga_fmnist():
    from apq.space.registry import create_space

    space = create_space("fmnist")
    target = create_target("fpga")
    return CostTable(space, target), Rules(space, target.forbidden)


@pytest.fixture(scope="module")
def fpga_fmnist_apq():
    """``fpga_fmnist`` on APQ's bit menu {4,6,8}: the search-method figures pinned before 2-bit."""
    from apq.space.registry import create_space

    space = create_space("fmnist-apq")
    target = create_target("fpga")
    return CostTable(space, target), Rules(space, target.forbidden)


@pytest.fixture(scope="module")
def fmnist_apq_predictor(fpga_fmnist_apq):
    """The linear stand-in of ``fmnist_predictor`` on fmnist-apq's encoding."""
    table, _ = fpga_fmnist_apq
    return LinearScore(np.random.default_rng(1).normal(0.0, 0.3, Encoder(table.space).dim))


@pytest.fixture(scope="module")
def fmnist_predictor(fpga_fmnist):
    """Linear stand-in on fmnist with random weights per encoding column."""
    table, _ = fpga_fmnist
    rng = np.random.default_rng(1)
    weights = rng.normal(0.0, 0.3, Encoder(table.space).dim)
    return LinearScore(weights)


