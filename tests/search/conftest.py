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
def fmnist_predictor(fpga_fmnist):
    """Linear stand-in on fmnist with random weights per encoding column."""
    table, _ = fpga_fmnist
    rng = np.random.default_rng(1)
    weights = rng.normal(0.0, 0.3, Encoder(table.space).dim)
    return LinearScore(weights)


