"""Held-out figures with 95 % bootstrap intervals, cost-matched pairwise accuracy included.

Every figure of ``metrics.json`` is measured on a fixed set of N held-out samples. Its interval
comes from resampling those N samples with replacement B times (default 1000, seeded) and
recomputing it: the 2.5th and 97.5th percentiles of the B values.

No loop over resamples: a resample gives sample k a count w_k (one row of a (B, N) multinomial
matrix), and a pair figure over it is a ratio of quadratic forms in the counts. Two copies of one
sample tie in both truth and prediction and drop out of every pair figure (as tied pairs do in
:mod:`apq.predictor.metrics`), and a pair of distinct samples k, l occurs w_k * w_l times, so
each figure over all resamples is one (B, N) x (N, N) matrix product. Counts of all ones give the
plain figure, equal to :func:`apq.predictor.metrics.evaluate`'s.

All models of one report share the same counts, so a difference between two models (e.g. a
quantization-aware predictor minus the bits-ignored reference) gets a paired interval too.

Cost-matched pairwise accuracy (issue 16): pairwise accuracy over the pairs whose latency on the
default target differs by at most ``tolerance`` (10 %) of the smaller one, the pairs a search
under a latency limit actually has to order.
"""
from __future__ import annotations

import numpy as np

#: Bootstrap resamples per figure and the interval's coverage.
RESAMPLES, LEVEL = 1000, 0.95
#: Figures, in the order of their rows in :meth:`HeldOut.figures`.
FIGURES = ("rmse", "kendall_tau", "pairwise_acc", "pairwise_acc_cost_matched")


def resample_counts(n: int, resamples: int, seed: int) -> np.ndarray:
    """float64 (resamples + 1, n): row 0 all ones (the sample itself), then how often each of the
    ``n`` samples occurs in each seeded resample with replacement (every row sums to ``n``)."""
    rng = np.random.default_rng([seed, n])
    counts = rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)
    return np.vstack([np.ones((1, n)), counts])


def cost_matched_pairs(latency_ms: np.ndarray, tolerance: float) -> np.ndarray:
    """bool (N, N): ``|l_i - l_j| <= tolerance * min(l_i, l_j)`` (the diagonal included)."""
    lat = np.asarray(latency_ms, dtype=np.float64)
    return np.abs(lat[:, None] - lat[None, :]) <= tolerance * np.minimum(lat[:, None], lat[None, :])


def _quadratic(counts: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """w^T A w for every row w of ``counts`` (R, N) and A (N, N): (R,)."""
    return np.einsum("rn,rn->r", counts @ matrix, counts)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


class HeldOut:
    """The held-out samples every model is judged on, with their shared bootstrap counts.

    ``y`` (N,) measured accuracy (percent); ``latency_ms`` (N,) on the default target, or None
    (then no cost-matched figure); ``counts`` from :func:`resample_counts`.
    """

    def __init__(self, y: np.ndarray, latency_ms: np.ndarray | None, counts: np.ndarray, tolerance: float = 0.10):
        self.y = np.asarray(y, dtype=np.float64).ravel()
        if counts.shape[1] != len(self.y) or len(self.y) < 2:
            raise ValueError(f"need counts (R, {len(self.y)}) for at least 2 samples, got {counts.shape}")
        self.counts = counts
        self._sign_true = np.sign(self.y[:, None] - self.y[None, :])
        self._differ = (self._sign_true != 0).astype(np.float64)
        self._matched = None if latency_ms is None else cost_matched_pairs(latency_ms, tolerance)
        upper = np.triu(np.ones((len(self.y),) * 2, dtype=bool), 1)
        self.n_cost_matched_pairs = None if self._matched is None else int(np.sum(self._matched & upper & (self._differ > 0)))

    @classmethod
    def make(cls, y: np.ndarray, latency_ms: np.ndarray | None, resamples: int, seed: int,
             tolerance: float = 0.10) -> "HeldOut":
        return cls(y, latency_ms, resample_counts(len(np.ravel(y)), resamples, seed), tolerance)

    def figures(self, y_pred: np.ndarray) -> np.ndarray:
        """float64 (len(FIGURES), R): each figure of ``y_pred`` (N,) on the sample (column 0) and on
        every resample; NaN where a resample has no pair to compare."""
        pred = np.asarray(y_pred, dtype=np.float64).ravel()
        if pred.shape != self.y.shape:
            raise ValueError(f"need {len(self.y)} predictions, got {pred.shape}")
        w = self.counts
        sign_pred = np.sign(pred[:, None] - pred[None, :])
        right = self._differ * (self._sign_true == sign_pred)
        rmse = np.sqrt(w @ (pred - self.y) ** 2 / len(self.y))
        untied = np.sqrt(_quadratic(w, self._differ) * _quadratic(w, np.abs(sign_pred)))
        tau = _ratio(_quadratic(w, self._sign_true * sign_pred), untied)
        pairwise = _ratio(_quadratic(w, right), _quadratic(w, self._differ))
        if self._matched is None:
            matched = np.full(len(w), np.nan)
        else:
            matched = _ratio(_quadratic(w, right * self._matched), _quadratic(w, self._differ * self._matched))
        return np.stack([rmse, tau, pairwise, matched])

    def report(self, y_pred: np.ndarray) -> dict:
        """``{figure: value, figure_ci: [lo, hi]}`` for each of :data:`FIGURES`, plus ``n_test`` and
        ``n_cost_matched_pairs`` (pairs of different accuracy within the latency tolerance)."""
        out = summarise(self.figures(y_pred))
        out.update(n_test=len(self.y), n_cost_matched_pairs=self.n_cost_matched_pairs)
        return out

    def difference(self, y_pred: np.ndarray, y_ref: np.ndarray) -> dict:
        """Paired ``y_pred`` minus ``y_ref`` figures on the same resamples, with intervals."""
        return summarise(self.figures(y_pred) - self.figures(y_ref))


def summarise(values: np.ndarray) -> dict:
    """``{figure: plain value, figure_ci: percentile interval}`` of (len(FIGURES), R) values."""
    tail = 100 * (1 - LEVEL) / 2
    out = {}
    for name, row in zip(FIGURES, values):
        finite = row[1:][np.isfinite(row[1:])]
        out[name] = json_number(row[0])
        out[f"{name}_ci"] = ([json_number(v) for v in np.percentile(finite, [tail, 100 - tail])]
                             if len(finite) else [None, None])
    return out


def json_number(value: float) -> float | None:
    """JSON-safe: NaN becomes None (no pair to compare)."""
    return None if not np.isfinite(value) else float(value)
