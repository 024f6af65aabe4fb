"""Quantization-aware predictors built on the fp32 predictor, beside APQ's transfer.

- :class:`StructuredQuantPredictor`: quantized accuracy = the (frozen) fp32 predictor's accuracy
  of the architecture minus a learned drop of the bit policy, in logit space between chance and
  100 % (:class:`apq.predictor.network.StructuredQuantNet`). Its few weights learn from few
  quantized samples what the transferred MLP must find among 400 x 400 shared ones.
- :class:`GeneDropPredictor`: the same network, its linear drop fitted in closed form from few
  numbers (one non-negative factor per bit gene kind on the sensitivity scan's drop, and one
  non-negative drop per gene kind and narrower width), so a search has few errors to exploit;
  or, with a ``rank_temperature``, the same numbers fitted to order the training rows; or, with
  ``arch_alphas``, those numbers plus a ridge-penalised weight per architecture column in the drop.
- :class:`RidgeQuantPredictor`: quantized accuracy = a fitted multiple of the fp32 predictor's
  accuracy plus a ridge regression over the whole encoding (closed form, its penalty chosen by
  leave-one-out cross-validation on the training rows): few samples fit it without early stopping.
- :class:`BitsIgnoredPredictor`: the reference every quantization-aware model must beat, the
  fp32 predictor on the architecture part of the encoding, shifted by the mean accuracy lost to
  quantization on its training rows (the shift changes no ranking, only the RMSE).
- :class:`EnsemblePredictor`: the mean of fitted quantization-aware predictors, optionally minus a
  multiple of their spread.

All follow :class:`apq.predictor.estimator.MLPPredictor`'s fit / predict / predict_hot and save
and load through :mod:`apq.predictor.load` like it.
"""
from __future__ import annotations

import copy

import numpy as np
import torch
from scipy.optimize import lsq_linear, minimize, nnls

from apq.predictor.estimator import MLPPredictor, NotFittedError
from apq.predictor.baselines import make_baseline
from apq.predictor.network import LinearOnBaseNet, MeanEnsembleNet, StructuredQuantNet
from apq.space.space import BIT_GENES


class StructuredQuantPredictor(MLPPredictor):
    """fp32 predictor ``base`` (fitted :class:`MLPPredictor`) minus a learned drop of the bits.

    ``drop``: ``"linear"`` or ``"mlp"`` (see :class:`StructuredQuantNet`); ``floor``: chance
    accuracy in percent (100 / classes); ``weight_decay`` is the drop's L2 penalty; the linear drop's
    weights stay >= 0 (:meth:`apq.predictor.network.StructuredQuantNet.project`). ``prior``
    (linear drop only): float32 (bit_dim,) weights over the encoding's bit part, e.g. a sensitivity
    scan's (:func:`apq.quant.sensitivity.prior_weights`); the drop then starts at the least-squares
    fit ``scale * prior . x + bias`` of the training rows' logit drops instead of a constant.
    """

    def __init__(self, fp32_dim: int, base: MLPPredictor | None = None, drop: str = "linear",
                 floor: float = 10.0, hidden_size: int = 64, lr: float = 1e-2, weight_decay: float = 1e-3,
                 batch_size: int = 128, max_epochs: int = 300, patience: int = 30,
                 validation_fraction: float = 0.15, seed: int = 0, device: str | None = None,
                 prior: np.ndarray | None = None):
        super().__init__(hidden_size, 1, lr, weight_decay, batch_size, max_epochs, patience, validation_fraction,
                         seed, device)
        if prior is not None and drop != "linear":
            raise ValueError("a prior needs the linear drop")
        self.fp32_dim, self.base, self.drop, self.floor, self.prior = fp32_dim, base, drop, floor, prior

    def _initial_network(self, X: np.ndarray, y: np.ndarray) -> StructuredQuantNet:
        """The frozen base plus a seeded drop that starts constant (last layer's weights zero) at the
        mean logit drop of the training rows: the fp32 predictor's order, shifted to be unbiased
        (as the transferred MLP starts); with a prior, at its least-squares fit to those drops."""
        if self.base is None:
            raise NotFittedError("StructuredQuantPredictor needs a fitted fp32 predictor as base")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = StructuredQuantNet(copy.deepcopy(self.base.network_).cpu(), X.shape[1] - self.fp32_dim, self.drop,
                                     self.hidden_size, self.floor)
        with torch.no_grad():
            base_logit = net.base_logit(torch.as_tensor(self.base.predict(X[:, : self.fp32_dim]), dtype=torch.float32))
            logit_drop = base_logit - net.base_logit(torch.as_tensor(y, dtype=torch.float32))
            layer = net.output_layer()
            if self.prior is None:
                layer.weight.zero_()
                layer.bias.fill_(float(torch.mean(logit_drop)))
            else:
                prior = np.asarray(self.prior, dtype=np.float32)
                scale, bias = prior_fit(X[:, self.fp32_dim:] @ prior, logit_drop.numpy())
                layer.weight.copy_(torch.as_tensor(scale * prior)[None])
                layer.bias.fill_(bias)
        net.project()
        return net


def prior_fit(prior_drop: np.ndarray, logit_drop: np.ndarray) -> tuple[float, float]:
    """Least-squares ``(scale, bias)`` of ``logit_drop ~ scale * prior_drop + bias`` over (N,) rows;
    scale 0 (the mean alone) when the prior is constant on them."""
    prior_drop, logit_drop = np.asarray(prior_drop, dtype=np.float64), np.asarray(logit_drop, dtype=np.float64)
    if np.ptp(prior_drop) == 0:
        return 0.0, float(np.mean(logit_drop))
    scale, bias = np.polyfit(prior_drop, logit_drop, 1)
    return float(scale), float(bias)


def nonnegative_fit(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float]:
    """Least squares ``target ~ design @ coef + bias`` over (N,) rows with every coef >= 0 and a free
    bias (non-negative least squares on the design plus a +1 and a -1 column). Returns ``(coef (P,), bias)``."""
    signed_bias = np.ones((len(design), 1)) * [1.0, -1.0]
    coef = nnls(np.hstack([np.asarray(design, dtype=np.float64), signed_bias]), np.asarray(target, dtype=np.float64))[0]
    return coef[:-2], float(coef[-2] - coef[-1])


def bounded_ridge(design: np.ndarray, free: np.ndarray, target: np.ndarray,
                  alpha: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Least squares ``target ~ design @ coef + free @ weights + bias`` over (N,) rows with every
    coef >= 0, ``weights`` under an L2 penalty ``alpha`` (sum of squares) and a free bias.
    ``design`` (N, P), ``free`` (N, Q). Returns ``(coef (P,), weights (Q,), bias)``."""
    design, free = np.asarray(design, dtype=np.float64), np.asarray(free, dtype=np.float64)
    n, p, q = len(design), design.shape[1], free.shape[1]
    penalty = np.hstack([np.zeros((q, p)), np.sqrt(alpha) * np.eye(q), np.zeros((q, 1))])
    system = np.vstack([np.hstack([design, free, np.ones((n, 1))]), penalty])
    lower = np.r_[np.zeros(p), np.full(q + 1, -np.inf)]
    solution = lsq_linear(system, np.r_[np.asarray(target, dtype=np.float64), np.zeros(q)],
                          bounds=(lower, np.full(p + q + 1, np.inf))).x
    return solution[:p], solution[p:p + q], float(solution[-1])


def choose_penalty(design: np.ndarray, free: np.ndarray, target: np.ndarray, alphas: tuple[float, ...],
                   folds: int = 5, seed: int = 0) -> float:
    """The ``alpha`` of ``alphas`` whose :func:`bounded_ridge` has the least squared error in seeded
    ``folds``-fold cross-validation over the rows (the first of equals)."""
    parts = np.array_split(np.random.default_rng(seed).permutation(len(target)), folds)

    def error(alpha: float) -> float:
        total = 0.0
        for part in parts:
            rest = np.setdiff1d(np.arange(len(target)), part)
            coef, weights, bias = bounded_ridge(design[rest], free[rest], target[rest], alpha)
            total += float(np.sum((design[part] @ coef + free[part] @ weights + bias - target[part]) ** 2))
        return total

    errors = [error(alpha) for alpha in alphas]
    return float(alphas[int(np.argmin(errors))])


#: The ridge penalties structured_arch's architecture weights are fitted under, one chosen per fit.
ARCH_ALPHAS = tuple(float(a) for a in np.logspace(-2, 3, 11))


#: Most row pairs :func:`pairwise_fit` orders at once (the default pool's 197 rows make 19,306).
MAX_PAIRS = 200_000


def pairwise_fit(design: np.ndarray, base_logit: np.ndarray, y: np.ndarray, temperature: float,
                 start: np.ndarray) -> np.ndarray:
    """Non-negative ``coef`` (P,) that orders the rows as ``y`` (N,) does: the score of row i is
    ``base_logit[i] - design[i] @ coef`` ((N, P) design), and the loss the mean over every pair
    with different ``y`` of log(1 + exp(-sign(y_i - y_j) (score_i - score_j) / temperature))
    (RankNet's pairwise logistic loss; a small temperature approaches counting misordered pairs).
    L-BFGS-B within coef >= 0 from ``start`` (P,). Above :data:`MAX_PAIRS` pairs a seeded subset of
    them stands for all (memory grows with the square of the rows)."""
    design, base_logit, y = (np.asarray(a, dtype=np.float64) for a in (design, base_logit, y))
    i, j = np.triu_indices(len(y), 1)
    if len(i) > MAX_PAIRS:
        keep = np.sort(np.random.default_rng(0).choice(len(i), MAX_PAIRS, replace=False))
        i, j = i[keep], j[keep]
    sign = np.sign(y[i] - y[j])
    ordered = sign != 0
    i, j, sign = i[ordered], j[ordered], sign[ordered]
    if not len(i):
        return np.asarray(start, dtype=np.float64)
    design_diff, base_diff = design[i] - design[j], base_logit[i] - base_logit[j]

    def loss_and_grad(coef: np.ndarray) -> tuple[float, np.ndarray]:
        margin = sign * (base_diff - design_diff @ coef) / temperature
        slope = -0.5 * (1 - np.tanh(margin / 2))  # d/dm log(1 + e^-m) = -1 / (1 + e^m), overflow-free
        return float(np.logaddexp(0, -margin).mean()), (slope * sign / temperature) @ -design_diff / len(i)

    bounds = [(0.0, None)] * design.shape[1]
    return minimize(loss_and_grad, np.asarray(start, dtype=np.float64), jac=True, method="L-BFGS-B", bounds=bounds).x


class GeneDropPredictor(StructuredQuantPredictor):
    """:class:`StructuredQuantPredictor`'s network (fp32 predictor ``base`` minus a linear logit drop
    of the bit part), with the drop's weights fitted in closed form from few numbers instead of
    one per encoding column: for each bit gene kind g (:data:`BIT_GENES`) a factor ``a_g`` on the
    ``prior``'s summed drop of g's layers (when there is a prior), and for each g and each width
    ``w`` below the widest a drop ``c_gw`` per layer at that width; all >= 0 (non-negative least
    squares on the training rows' logit drops), plus a free bias. So bit weight (g, block, w) =
    ``a_g * prior[g, block, w] + c_gw``: 4 + 4 x (widths - 1) numbers (16 with bits {2, 4, 6, 8})
    where the linear drop fits 4 x blocks x widths (160).

    ``widths``: the space's bit choices in encoding order (``SearchSpace.bit_choices``). With a
    ``rank_temperature`` the numbers are refitted from that start to order the training rows
    (:func:`pairwise_fit`) and the bias is then the least-squares one. With ``arch_alphas`` the drop
    also has one free weight per architecture column (the ``"linear_arch"`` drop: a sub-net's
    kernels and widths shift how much its bits cost), under a ridge penalty chosen among
    ``arch_alphas`` by cross-validation on the training rows (:func:`bounded_ridge`,
    :func:`choose_penalty`); the bit numbers stay >= 0. Saved and loaded as a
    :class:`StructuredQuantPredictor` (same network; the fit needs nothing more).
    """

    def __init__(self, fp32_dim: int, base: MLPPredictor | None = None, widths: tuple[int, ...] = (),
                 floor: float = 10.0, device: str | None = None, prior: np.ndarray | None = None,
                 rank_temperature: float | None = None, arch_alphas: tuple[float, ...] = ()):
        super().__init__(fp32_dim, base, drop="linear", floor=floor, device=device, prior=prior)
        if rank_temperature is not None and arch_alphas:
            raise ValueError("a ranking fit and architecture weights do not combine (the ranking overfits them)")
        self.widths = tuple(int(w) for w in widths)
        self.rank_temperature, self.arch_alphas = rank_temperature, tuple(arch_alphas)

    def fit(self, X: np.ndarray, y: np.ndarray, X_val=None, y_val=None) -> "GeneDropPredictor":
        """Closed-form fit on all of (X (N, dim), y (N,) percent); ``X_val`` is not used."""
        if self.base is None:
            raise NotFittedError("GeneDropPredictor needs a fitted fp32 predictor as base")
        X = np.asarray(X, dtype=np.float32)
        drop = "linear_arch" if self.arch_alphas else "linear"
        net = StructuredQuantNet(copy.deepcopy(self.base.network_).cpu(), X.shape[1] - self.fp32_dim, drop,
                                 floor=self.floor)
        with torch.no_grad():
            base_logit = net.base_logit(torch.as_tensor(self.base.predict(X[:, : self.fp32_dim]), dtype=torch.float32))
            logit_drop = (base_logit - net.base_logit(torch.as_tensor(y, dtype=torch.float32))).double().numpy()
        basis = self.drop_basis(X.shape[1] - self.fp32_dim)
        design = X[:, self.fp32_dim:].astype(np.float64) @ basis.T
        if self.arch_alphas:
            arch = X[:, : self.fp32_dim].astype(np.float64)
            self.arch_alpha_ = choose_penalty(design, arch, logit_drop, self.arch_alphas)
            self.coef_, self.arch_weights_, bias = bounded_ridge(design, arch, logit_drop, self.arch_alpha_)
        else:
            self.coef_, bias = nonnegative_fit(design, logit_drop)
            self.arch_weights_ = np.zeros(0)  # the "linear" drop has no architecture columns
        if self.rank_temperature is not None:
            self.coef_ = pairwise_fit(design, base_logit.double().numpy(), y, self.rank_temperature, self.coef_)
            bias = float(np.mean(logit_drop - design @ self.coef_))
        with torch.no_grad():
            weights = np.r_[self.arch_weights_, self.coef_ @ basis]
            net.drop.weight.copy_(torch.as_tensor(weights, dtype=torch.float32)[None])
            net.drop.bias.fill_(bias)
        return self.set_network(net, float(np.mean(y)))

    def drop_basis(self, bit_dim: int) -> np.ndarray:
        """The fitted numbers' patterns over the bit part, float64 (P, bit_dim): the prior's drop of
        each gene kind (with a prior), then an indicator of each (gene kind, narrower width)."""
        genes, n_widths = len(BIT_GENES), len(self.widths)
        if n_widths < 2 or bit_dim % (genes * n_widths):
            raise ValueError(f"widths {self.widths} do not lay out a bit part of width {bit_dim}")
        columns = np.arange(bit_dim)  # gene-major, then block, then width (apq.space.encoding)
        gene_of, width_of = columns // (bit_dim // genes), columns % n_widths
        rows = []
        if self.prior is not None:
            prior = np.asarray(self.prior, dtype=np.float64)
            rows += [np.where(gene_of == g, prior, 0.0) for g in range(genes)]
        narrower = [w for w in range(n_widths) if self.widths[w] != max(self.widths)]
        rows += [((gene_of == g) & (width_of == w)).astype(np.float64) for g in range(genes) for w in narrower]
        return np.stack(rows)


class RidgeQuantPredictor(MLPPredictor):
    """``a`` x fp32 predictor ``base`` (fitted :class:`MLPPredictor`) on the architecture part, plus
    ``w . x + b`` over the whole encoding x: one ridge regression of accuracy on [base(x_fp32), x].
    ``prior``: as :class:`StructuredQuantPredictor`'s; it adds the column ``prior . x_bits`` to the
    regression (folded into ``w`` afterwards, so the network is the same)."""

    def __init__(self, fp32_dim: int, base: MLPPredictor | None = None, device: str | None = None,
                 prior: np.ndarray | None = None):
        super().__init__(device=device)
        self.fp32_dim, self.base, self.prior = fp32_dim, base, prior

    def fit(self, X: np.ndarray, y: np.ndarray, X_val=None, y_val=None) -> "RidgeQuantPredictor":
        """Closed-form fit on all of (X (N, dim), y (N,) percent); ``X_val`` is not used."""
        if self.base is None:
            raise NotFittedError("RidgeQuantPredictor needs a fitted fp32 predictor as base")
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.float64)
        base = self.base.predict(X[:, : self.fp32_dim])
        columns = [base[:, None], X]
        prior = None if self.prior is None else np.asarray(self.prior, dtype=np.float64)
        if prior is not None:
            columns.insert(1, (X[:, self.fp32_dim:] @ prior)[:, None])
        ridge = make_baseline("ridge", 0, 0).fit(np.hstack(columns), y)
        weights = ridge.coef_[-X.shape[1]:].copy()
        if prior is not None:
            weights[self.fp32_dim:] += ridge.coef_[1] * prior
        net = LinearOnBaseNet(copy.deepcopy(self.base.network_).cpu(), X.shape[1] - self.fp32_dim)
        with torch.no_grad():
            net.scale.fill_(float(ridge.coef_[0]))
            net.linear.weight.copy_(torch.as_tensor(weights, dtype=torch.float32)[None])
            net.linear.bias.fill_(float(ridge.intercept_))
        self.alpha_ = float(ridge.alpha_)
        return self.set_network(net, float(np.mean(y)))


class BitsIgnoredPredictor(MLPPredictor):
    """The fp32 predictor ``base`` on the architecture part, plus the training rows' mean offset."""

    def __init__(self, fp32_dim: int, base: MLPPredictor | None = None):
        super().__init__()
        self.fp32_dim, self.base = fp32_dim, base

    def fit(self, X: np.ndarray, y: np.ndarray, X_val=None, y_val=None) -> "BitsIgnoredPredictor":
        X = np.asarray(X, dtype=np.float32)
        self.offset_ = float(np.mean(y) - np.mean(self.base.predict(X[:, : self.fp32_dim])))
        self.n_features_in_, self.y_mean_ = X.shape[1], float(np.mean(y))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "offset_"):
            raise NotFittedError("BitsIgnoredPredictor is not fitted; call fit()")
        return self.base.predict(np.asarray(X, dtype=np.float32)[:, : self.fp32_dim]) + self.offset_


class EnsemblePredictor(MLPPredictor):
    """The mean prediction of ``members`` (fitted predictors over the same encoding) minus
    ``spread_penalty`` standard deviations of theirs; ``fit`` is a no-op (the members are fitted
    already), so the ensemble costs no training of its own."""

    def __init__(self, members: tuple = (), spread_penalty: float = 0.0, device: str | None = None):
        super().__init__(device=device)
        self.members, self.spread_penalty = tuple(members), spread_penalty

    def fit(self, X=None, y=None, X_val=None, y_val=None) -> "EnsemblePredictor":
        net = MeanEnsembleNet([copy.deepcopy(m.network_).cpu() for m in self.members], self.spread_penalty)
        return self.set_network(net, float(np.mean([m.y_mean_ for m in self.members])))
