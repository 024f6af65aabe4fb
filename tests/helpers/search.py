"""Search helpers: honest stand-in predictors with known optima, a tiny enumerable space, batches,
and a smoke search run through the CLI."""
import numpy as np
import torch
from sklearn.linear_model import Ridge

from apq.cli import main
from apq.predictor.estimator import QuantMLPPredictor
from apq.predictor.load import predictor_path, save_predictor
from apq.predictor.network import AccuracyMLP
from apq.presets import get_preset
from apq.search.config import SearchConfig
from apq.search.problem import Batch
from apq.space.config import SpaceConfig, StageConfig
from apq.space.encoding import Encoder
from apq.space.genome import sample
from apq.space.registry import create_space
from apq.space.space import SearchSpace
from apq.supernet import checkpoint as ckpt
from apq.supernet.config import get_supernet_config
from apq.supernet.network import Supernet
from tests.helpers.nets import randomize


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
                default_budget_samples=200, rerank_k=1)
    return SearchConfig(**{**base, **changes})


def save_random_predictor(space_name: str, seed: int = 0):
    """A quantization-aware predictor checkpoint with random weights under ``$APQ_ROOT``."""
    space = create_space(space_name)
    encoder = Encoder(space)
    torch.manual_seed(seed)
    net = AccuracyMLP(encoder.fp32_dim, encoder.dim - encoder.fp32_dim, hidden_size=32)
    with torch.no_grad():
        net.output.bias.fill_(85.0)
    predictor = QuantMLPPredictor(encoder.fp32_dim, hidden_size=32).set_network(net, 85.0)
    return save_predictor(predictor, predictor_path(space_name, "quant"), "quant", space)


def baseline_names(space: SearchSpace) -> set[str]:
    """The baselines a search of ``space`` runs: a uniform one for each of 8, 4 and 2 bits it offers."""
    uniform = {f"uniform_w{b}a{b}" for b in (8, 4, 2) if b in space.bit_choices}
    return {"random", "sequential"} | uniform


def batch(acc, latency, violation=None):
    n = len(acc)
    violation = np.zeros(n) if violation is None else np.asarray(violation, dtype=float)
    return Batch(np.arange(n)[:, None], np.asarray(acc, float), np.asarray(latency, float), np.full(n, np.nan),
                 np.ones(n), violation)


def save_smoke_supernet():
    space = create_space("fmnist")
    torch.manual_seed(0)
    net = randomize(Supernet(space)).eval()
    meta = ckpt.make_meta(space, get_supernet_config("smoke"), get_preset("smoke"))
    ckpt.write(ckpt.supernet_path("fmnist"), {"format": ckpt.FORMAT, "meta": meta, "state_dict": net.state_dict()})


def search(run, *flags):
    """A smoke search of fmnist on fpga through the CLI (its re-ranking measures on a random supernet)."""
    save_random_predictor("fmnist")
    save_smoke_supernet()
    assert main(["search", "--target", "fpga", "--preset", "smoke", "--generations", "2", "--jobs", "1", "--run", run,
                 *flags]) == 0
