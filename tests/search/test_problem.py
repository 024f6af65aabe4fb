"""Problem.predict: the MLP's hot-index fast path gives what the dense encoding gives."""
import numpy as np
import pytest
import torch

from apq.predictor.estimator import MLPPredictor, QuantMLPPredictor
from apq.predictor.network import AccuracyMLP
from apq.search.constraint import Constraint
from apq.search.problem import Problem
from apq.space.encoding import Encoder
from apq.space.genome import sample


def _quant_predictor(space, seed=0) -> QuantMLPPredictor:
    encoder = Encoder(space)
    torch.manual_seed(seed)
    net = AccuracyMLP(encoder.fp32_dim, encoder.dim - encoder.fp32_dim, hidden_size=64, n_layers=3)
    with torch.no_grad():
        net.bit_branch.weight.normal_(0, 0.3)  # a live bit branch, not the zero one of a fresh transfer
    return QuantMLPPredictor(encoder.fp32_dim).set_network(net, 80.0)


def test_fast_path_matches_dense_predict(fpga_fmnist):
    table, _ = fpga_fmnist
    predictor = _quant_predictor(table.space)
    problem = Problem(table, predictor, Constraint("latency_ms", 1e9))
    genomes = sample(table.space, 300, np.random.default_rng(1))
    dense = predictor.predict(problem.encoder.encode(genomes))
    np.testing.assert_allclose(problem.predict(genomes), dense, rtol=0, atol=1e-4)
    assert problem.evaluate(genomes).acc.shape == (300,)


def test_fast_path_refuses_an_encoding_of_another_width(fpga_fmnist):
    table, _ = fpga_fmnist
    encoder = Encoder(table.space)
    fp32 = MLPPredictor().set_network(AccuracyMLP(encoder.fp32_dim), 80.0)
    with pytest.raises(ValueError, match=f"width {encoder.fp32_dim}"):
        fp32.predict_hot(encoder.hot_indices(sample(table.space, 2, np.random.default_rng(0))))
