"""scikit-learn conventions of the MLP predictors, seeding, early stopping and transfer start."""
import numpy as np
import pytest
import torch

from apq.predictor.estimator import MLPPredictor, NotFittedError, QuantMLPPredictor, validation_split
from apq.predictor.metrics import kendall_tau
from apq.predictor.train import predict_array

SMALL = dict(hidden_size=32, n_layers=3, max_epochs=60, patience=10, batch_size=32)


def _data(n=240, d=10, bits=6, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, d + bits)) < 0.5).astype(np.float32)
    y = 85 + 2 * np.tanh(X[:, :d] @ rng.normal(0, 0.5, d)) - X[:, d:] @ rng.random(bits) + rng.normal(0, 0.05, n)
    return X, y.astype(np.float32)


def test_fit_returns_self_and_predict_shape():
    X, y = _data()
    model = MLPPredictor(**SMALL)
    assert model.fit(X[:200, :10], y[:200]) is model
    pred = model.predict(X[200:, :10])
    assert pred.shape == (40,) and pred.dtype == np.float64
    assert model.n_features_in_ == model.encoding_dim == 10
    assert model.y_mean_ == pytest.approx(float(np.mean(y[:200][validation_split(200, 0.15, 0)[0]])))
    assert {"network_", "history_", "device_"} <= set(vars(model))
    assert kendall_tau(y[200:], pred) > 0.3


def test_predict_before_fit_and_bad_width():
    with pytest.raises(NotFittedError):
        MLPPredictor().predict(np.zeros((2, 3), np.float32))
    X, y = _data(60)
    model = MLPPredictor(**{**SMALL, "max_epochs": 2}).fit(X[:, :10], y)
    with pytest.raises(ValueError):
        model.predict(X)


def test_output_bias_starts_at_mean_accuracy():
    X, y = _data(50)
    net = MLPPredictor(**SMALL)._initial_network(X[:, :10], y)
    assert net.output.bias.item() == pytest.approx(float(np.mean(y)), rel=1e-6)


def test_same_seed_same_model_other_seed_other_model():
    X, y = _data(120)
    a, b, c = (MLPPredictor(seed=s, **{**SMALL, "max_epochs": 5}).fit(X[:, :10], y).predict(X[:, :10])
               for s in (1, 1, 2))
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_early_stopping_keeps_the_best_validation_epoch():
    X, y = _data(160)
    model = MLPPredictor(**SMALL).fit(X[:100, :10], y[:100], X[100:, :10], y[100:])
    history = model.history_
    assert history.best_epoch == int(np.argmin(history.val_rmse))
    assert len(history.val_rmse) <= history.best_epoch + SMALL["patience"] + 1
    rmse = np.sqrt(np.mean((model.predict(X[100:, :10]) - y[100:]) ** 2))
    assert rmse == pytest.approx(min(history.val_rmse), rel=1e-4)


def test_transfer_starts_as_fp32_plus_the_mean_quantization_offset():
    X, y = _data(200)
    fp32 = MLPPredictor(**SMALL).fit(X[:, :10], y + 1.5)
    quant = QuantMLPPredictor(10, transfer_from=fp32, **SMALL)
    net = quant._initial_network(X, y)
    start, base = predict_array(net, X, torch.device("cpu")), fp32.predict(X[:, :10])
    assert np.allclose(start - base, np.mean(y) - np.mean(base), atol=1e-4)
    assert torch.count_nonzero(net.bit_branch.weight) == 0


def test_quant_fit_and_params():
    X, y = _data(200)
    quant = QuantMLPPredictor(10, bit_lr=1e-2, **SMALL).fit(X, y)
    assert quant.predict(X).shape == (200,) and quant.encoding_dim == 16
    params = quant.get_params()
    assert params["fp32_dim"] == 10 and params["bit_lr"] == 1e-2 and params["transfer_from"] is None
    with pytest.raises(ValueError):
        QuantMLPPredictor(16, **SMALL).fit(X, y)
