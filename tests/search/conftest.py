"""Search fixtures: honest stand-in predictors with known optima, a tiny enumerable space, CLI helpers."""
import numpy as np
import pytest
from sklearn.linear_model import Ridge

from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.search.config import SearchConfig
from apq.space.config import SpaceConfig, StageConfig
from apq.space.encoding import Encoder
from apq.space.genome import Rules, sample
from apq.space.space import SearchSpace


class LinearScore:
    """Stand-in predictor: ``80 + encoding @ weights``, so the best genome under a constraint is
    known by enumeration (or by construction) and a search that misses it fails the test."""

    def __init__(self, weights: np.ndarray):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.encoding_dim = len(self.weights)

    def predict(self, encodings: np.ndarray) -> np.ndarray:
        return 80.0 + encodings @ self.weights


def ridge_predictor(space: SearchSpace, weights: np.ndarray, seed: int = 0, n: int = 2000) -> Ridge:
    """scikit-learn Ridge fitted on random valid encodings to :class:`LinearScore`'s score."""
    X = Encoder(space).encode(sample(space, n, np.random.default_rng(seed)))
    return Ridge(alpha=1e-6, solver="cholesky").fit(X, LinearScore(weights).predict(X))


def tiny_space(kernels=(3,), stages=(StageConfig(8, 1, (1, 2)), StageConfig(16, 2, (1,)))) -> SearchSpace:
    """By default 3 blocks, one kernel, 2 channel and 2 bit choices: 2 x 32^3 = 65,536 genomes."""
    return SearchSpace(SpaceConfig(
        name="tiny", input_size=8, input_channels=1, num_classes=2, stem_width=8, stem_stride=1,
        first_block_width=8, final_width=16, stages=stages, kernels=kernels, expand_min=1.0, expand_max=2.0,
        channel_step=8, bits=(4, 8)))


def all_genomes(space: SearchSpace) -> np.ndarray:
    """Every genome of a small space, (prod(cardinality), n_genes)."""
    return np.indices(tuple(space.cardinality)).reshape(space.n_genes, -1).T.astype(np.int64)


def small_config(**changes) -> SearchConfig:
    base = dict(name="test", population=40, mutation_children=20, crossover_children=20, generations=10,
                default_budget_samples=200)
    return SearchConfig(**{**base, **changes})


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


def save_random_predictor(space_name: str, seed: int = 0):
    """A quantization-aware predictor checkpoint with random weights under ``$APQ_ROOT``."""
    import torch

    from apq.predictor.estimator import QuantMLPPredictor
    from apq.predictor.load import predictor_path, save_predictor
    from apq.predictor.network import AccuracyMLP
    from apq.space.registry import create_space

    space = create_space(space_name)
    encoder = Encoder(space)
    torch.manual_seed(seed)
    net = AccuracyMLP(encoder.fp32_dim, encoder.dim - encoder.fp32_dim, hidden_size=32)
    with torch.no_grad():
        net.output.bias.fill_(85.0)
    predictor = QuantMLPPredictor(encoder.fp32_dim, hidden_size=32).set_network(net, 85.0)
    return save_predictor(predictor, predictor_path(space_name, "quant"), "quant", space)
