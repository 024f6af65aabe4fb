"""Checkpoints: weights-only round trip, refusal of other spaces, one-line how-to when missing."""
import numpy as np
import pytest
import torch

from apq.errors import UserError
from apq.predictor.estimator import MLPPredictor, QuantMLPPredictor
from apq.predictor.load import (load_fp32_predictor, load_quant_predictor, predictor_path, save_predictor)
from apq.space.encoding import Encoder
from apq.space.genome import sample

SMALL = dict(hidden_size=16, max_epochs=3, patience=2)


@pytest.fixture
def fitted(fmnist):
    encoder = Encoder(fmnist)
    X = encoder.encode(sample(fmnist, 60, np.random.default_rng(0)))
    y = 80 + X[:, :20].sum(1)
    fp32 = MLPPredictor(**SMALL).fit(X[:, : encoder.fp32_dim], y)
    quant = QuantMLPPredictor(encoder.fp32_dim, transfer_from=fp32, **SMALL).fit(X, y)
    return X, fp32, quant


def test_round_trip_weights_only(fmnist, fitted):
    X, fp32, quant = fitted
    paths = {k: save_predictor(p, predictor_path("fmnist", k), k, fmnist, config={"c": (1, 2)}, samples={"s": 1})
             for k, p in (("fp32", fp32), ("quant", quant))}
    payload = torch.load(paths["quant"], weights_only=True)
    assert payload["space"] == "fmnist" and payload["encoding"] == Encoder(fmnist).describe()
    assert payload["config"] == {"c": [1, 2]} and payload["samples"] == {"s": 1}
    assert "transfer_from" not in payload["estimator"]
    loaded = load_quant_predictor("fmnist")
    assert loaded.encoding_dim == Encoder(fmnist).dim
    assert np.array_equal(loaded.predict(X), quant.predict(X))
    assert np.array_equal(load_fp32_predictor(fmnist).predict(X[:, :240]), fp32.predict(X[:, :240]))


def test_missing_checkpoint_says_how(fmnist):
    with pytest.raises(UserError, match="apq predictor --space fmnist.*--import-apq") as err:
        load_quant_predictor("fmnist")
    assert "\n" not in str(err.value)


def test_other_space_refused_naming_both(fmnist, fitted, tmp_path):
    _, _, quant = fitted
    path = save_predictor(quant, tmp_path / "q.pt", "quant", fmnist)
    with pytest.raises(UserError, match=r"'fmnist' \(encoding dim 400.*'imagenet-apq' \(encoding dim 772"):
        load_quant_predictor("imagenet-apq", path)
    with pytest.raises(UserError, match="not an apq fp32 predictor"):
        load_fp32_predictor("fmnist", path)


def test_garbage_file_refused(tmp_path):
    bad = tmp_path / "quant.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read"):
        load_quant_predictor("fmnist", bad)
