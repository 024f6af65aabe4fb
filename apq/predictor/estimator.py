"""scikit-learn-style accuracy predictors (``fit`` returns self, ``predict`` returns (N,) percent).

- :class:`MLPPredictor`: the fp32 predictor, an MLP over the architecture encoding
  (once-for-all/APQ: 3 hidden layers of 400, ReLU, output bias set to the mean training accuracy).
- :class:`QuantMLPPredictor`: APQ's quantization-aware predictor, the same MLP over the fp32 part
  of the full encoding plus a linear branch from the bit part. With ``transfer_from`` (a fitted
  :class:`MLPPredictor`) its shared weights start as the fp32 predictor's and the bit branch at
  zero, so it starts out predicting what the fp32 predictor does, shifted by the mean accuracy
  lost to quantization on its training rows; without it, it is trained from scratch.

``bit_lr`` lets the bit branch learn faster than the shared weights (transfer: the shared
weights start from a good fp32 solution, the bit branch from zero).

Learned state lives in attributes ending in ``_``: ``network_``, ``history_``, ``n_features_in_``,
``y_mean_``, ``device_``.
"""
from __future__ import annotations

import inspect

import numpy as np
import torch

from apq.nn.runtime import pick_device
from apq.predictor.network import AccuracyMLP
from apq.predictor.train import predict_array, predict_hot_array, train_network
from apq.space.encoding import HotIndices


class NotFittedError(RuntimeError):
    """``predict`` before ``fit`` (a programming error)."""


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (fit rows, validation rows) of ``n`` rows; at least one row on each side."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class MLPPredictor:
    """fp32 accuracy predictor. ``fit(X (N, D) float32, y (N,) percent)`` -> self."""

    #: Learning rate of the bit branch; only the quantization-aware predictor has one.
    bit_lr: float | None = None

    def __init__(self, hidden_size: int = 400, n_layers: int = 3, lr: float = 1e-3, weight_decay: float = 1e-3,
                 batch_size: int = 128, max_epochs: int = 300, patience: int = 30,
                 validation_fraction: float = 0.15, seed: int = 0, device: str | None = None):
        self.hidden_size, self.n_layers = hidden_size, n_layers
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        self.max_epochs, self.patience = max_epochs, patience
        self.validation_fraction, self.seed, self.device = validation_fraction, seed, device

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments (scikit-learn convention)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = {k: v for k, v in self.get_params().items() if not isinstance(v, MLPPredictor)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in params.items())})"

    def _new_network(self, n_features: int) -> AccuracyMLP:
        return AccuracyMLP(n_features, 0, self.hidden_size, self.n_layers)

    def _initial_network(self, X: np.ndarray, y: np.ndarray) -> AccuracyMLP:
        """Fresh seeded weights; the output bias starts at the mean training accuracy."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = self._new_network(X.shape[1])
        with torch.no_grad():
            net.output.bias.fill_(float(np.mean(y)))
        return net

    def fit(self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None,
            y_val: np.ndarray | None = None) -> "MLPPredictor":
        """Train with early stopping on (X_val, y_val), or on a seeded ``validation_fraction`` of X."""
        X, y = _check_xy(X, y)
        if X_val is None:
            fit_rows, val_rows = validation_split(len(X), self.validation_fraction, self.seed)
            X, y, X_val, y_val = X[fit_rows], y[fit_rows], X[val_rows], y[val_rows]
        X_val, y_val = _check_xy(X_val, y_val)
        self.device_ = pick_device(self.device)
        net = self._initial_network(X, y)
        self.history_ = train_network(net, (X, y), (X_val, y_val), lr=self.lr, weight_decay=self.weight_decay,
                                      batch_size=self.batch_size, max_epochs=self.max_epochs,
                                      patience=self.patience, seed=self.seed, device=self.device_,
                                      bit_lr=self.bit_lr)
        self.network_, self.n_features_in_, self.y_mean_ = net, X.shape[1], float(np.mean(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted accuracy, float64 (N,) percent, for encodings X (N, n_features_in_)."""
        if not hasattr(self, "network_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load a checkpoint")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"expected encodings of shape (N, {self.n_features_in_}), got {X.shape}")
        return predict_array(self.network_, X, self.device_)

    def predict_hot(self, hot: HotIndices) -> np.ndarray:
        """``predict(encodings)`` from where the encodings' ones are (the search's fast path: no
        dense (N, dim) matrix, no first-layer matrix product): float64 (N,) percent."""
        if not hasattr(self, "network_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit() or load a checkpoint")
        if hot.dim != self.n_features_in_:
            raise ValueError(f"expected encodings of width {self.n_features_in_}, got {hot.dim}")
        return predict_hot_array(self.network_, hot, self.device_)

    @property
    def encoding_dim(self) -> int:
        """Width of the encodings ``predict`` takes."""
        return self.n_features_in_

    def set_network(self, net: AccuracyMLP, y_mean: float = float("nan")) -> "MLPPredictor":
        """Adopt a trained network (loading a checkpoint); returns self, ready to predict."""
        self.device_ = pick_device(self.device)
        self.network_, self.y_mean_ = net.to(self.device_).eval(), y_mean
        self.n_features_in_ = net.fp32_dim + net.bit_dim
        return self


class QuantMLPPredictor(MLPPredictor):
    """Quantization-aware predictor over the full encoding (N, fp32_dim + bit_dim): fp32 part first."""

    def __init__(self, fp32_dim: int, transfer_from: MLPPredictor | None = None, bit_merge: str = "after_relu",
                 bit_lr: float | None = None, hidden_size: int = 400, n_layers: int = 3, lr: float = 1e-3,
                 weight_decay: float = 1e-3, batch_size: int = 128, max_epochs: int = 300, patience: int = 30,
                 validation_fraction: float = 0.15, seed: int = 0, device: str | None = None):
        super().__init__(hidden_size, n_layers, lr, weight_decay, batch_size, max_epochs, patience,
                         validation_fraction, seed, device)
        self.fp32_dim, self.transfer_from, self.bit_merge, self.bit_lr = fp32_dim, transfer_from, bit_merge, bit_lr

    def _new_network(self, n_features: int) -> AccuracyMLP:
        if n_features <= self.fp32_dim:
            raise ValueError(f"quant encodings need more than fp32_dim={self.fp32_dim} columns, got {n_features}")
        return AccuracyMLP(self.fp32_dim, n_features - self.fp32_dim, self.hidden_size, self.n_layers, self.bit_merge)

    def _initial_network(self, X: np.ndarray, y: np.ndarray) -> AccuracyMLP:
        """From scratch, or the fp32 network plus a zero bit branch, its output shifted by the mean
        accuracy lost to quantization on the training rows (so fine-tuning starts unbiased: Adam
        moves a bias only ~lr per step, far too slowly for an offset of a few points)."""
        net = super()._initial_network(X, y)
        if self.transfer_from is not None:
            net.load_shared(self.transfer_from.network_)
            offset = float(np.mean(y) - np.mean(self.transfer_from.predict(X[:, : self.fp32_dim])))
            with torch.no_grad():
                net.output.bias += offset
        return net


def _check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float32).ravel()
    if X.ndim != 2 or len(X) != len(y) or len(X) == 0:
        raise ValueError(f"need X (N, D) and y (N,) with N > 0, got {X.shape} and {y.shape}")
    return X, y
