"""Mini-batch training of an :class:`AccuracyMLP` with early stopping on a validation split."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

#: Rows per forward pass at prediction time: bounds memory (hidden activations of 32k x 400
#: float32 are 52 MB) while keeping each pass one large matrix product.
PREDICT_CHUNK = 32768


@dataclass
class History:
    """Per-epoch training loss (MSE, points^2) and validation RMSE (points); the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    val_rmse: list[float] = field(default_factory=list)
    best_epoch: int = -1


def to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.ascontiguousarray(array, dtype=np.float32), device=device)


@torch.inference_mode()
def predict_array(net: nn.Module, X: np.ndarray, device: torch.device) -> np.ndarray:
    """Network outputs for rows of ``X`` (N, D) float32: float64 (N,), in chunks of PREDICT_CHUNK rows
    (one float32 forward each, no autograd)."""
    net.eval()
    out = [net(to_tensor(X[i:i + PREDICT_CHUNK], device)).cpu() for i in range(0, len(X), PREDICT_CHUNK)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


@torch.inference_mode()
def predict_hot_array(net: nn.Module, hot, device: torch.device) -> np.ndarray:
    """:func:`predict_array` for a :class:`apq.space.encoding.HotIndices` batch (one forward pass)."""
    if net.training:  # eval() walks every submodule: ~5 % of a search's predictor time if called per batch
        net.eval()
    tensors = [torch.as_tensor(a, device=device) for a in (hot.fp32_cols, hot.fp32_on, hot.bit_cols, hot.bit_on)]
    return net.forward_hot(*tensors).cpu().numpy().astype(np.float64)


def _epoch(net, optimiser, X, y, batch_size, generator) -> float:
    """One pass over (X, y) in a seeded random order; mean training MSE. A network with a
    ``project()`` method (constrained weights) is projected back after every step."""
    net.train()
    project = getattr(net, "project", None)
    order = torch.randperm(len(X), generator=generator).to(X.device)
    total = 0.0
    for rows in order.split(batch_size):
        loss = nn.functional.mse_loss(net(X[rows]), y[rows])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if project is not None:
            project()
        total += loss.item() * len(rows)
    return total / len(X)


def train_network(net: nn.Module, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                  *, lr: float, weight_decay: float, batch_size: int, max_epochs: int, patience: int,
                  seed: int, device: torch.device, bit_lr: float | None = None) -> History:
    """Adam on MSE until the validation RMSE has not improved for ``patience`` epochs.

    ``net`` is an :class:`AccuracyMLP`; its bit branch (if any) learns at ``bit_lr`` (default ``lr``).

    ``train`` and ``val`` are (X (N, D) float32, y (N,) percent). The network ends with the
    weights of its best validation epoch, on ``device``.
    """
    net.to(device)
    X, y = to_tensor(train[0], device), to_tensor(train[1], device)
    X_val, y_val = to_tensor(val[0], device), to_tensor(val[1], device)
    optimiser = torch.optim.Adam(net.param_groups(lr, bit_lr), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history, best, best_state = History(), float("inf"), copy.deepcopy(net.state_dict())
    for epoch in range(max_epochs):
        history.train_loss.append(_epoch(net, optimiser, X, y, batch_size, generator))
        with torch.no_grad():
            net.eval()
            history.val_rmse.append(float(torch.sqrt(torch.mean((net(X_val) - y_val) ** 2))))
        if history.val_rmse[-1] < best:
            best, best_state, history.best_epoch = history.val_rmse[-1], copy.deepcopy(net.state_dict()), epoch
        elif epoch - history.best_epoch >= patience:
            break
    net.load_state_dict(best_state)
    return history
