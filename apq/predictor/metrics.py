"""Held-out quality of an accuracy predictor (docs/architecture.md, Measures); pure numpy.

All functions take ``y_true`` and ``y_pred`` of shape (N,) in accuracy points (percent).
Kendall tau-b and pairwise accuracy compare every pair, O(N^2) memory in blocks of rows, which
is fine for the few hundred held-out samples they are used on.
"""
from __future__ import annotations

import numpy as np

_BLOCK = 1024


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, in accuracy points."""
    y_true, y_pred = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"need two non-empty arrays of one length, got {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def _pair_signs(y_true: np.ndarray, y_pred: np.ndarray):
    """Yield sign(t_i - t_j), sign(p_i - p_j) over pairs i < j, one block of rows i at a time."""
    n = len(y_true)
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(start + _BLOCK, n))
        upper = np.arange(n)[None, :] > rows[:, None]
        yield (np.sign(y_true[rows, None] - y_true[None, :])[upper],
               np.sign(y_pred[rows, None] - y_pred[None, :])[upper])


def kendall_tau(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Kendall tau-b: (concordant - discordant) / sqrt((n0 - ties_true) * (n0 - ties_pred)).

    Pairs tied in both arrays count as ties in each; NaN when either array is constant.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    score = untied_true = untied_pred = 0
    for s_true, s_pred in _pair_signs(y_true, y_pred):
        score += int(np.sum(s_true * s_pred))
        untied_true += int(np.count_nonzero(s_true))
        untied_pred += int(np.count_nonzero(s_pred))
    if untied_true == 0 or untied_pred == 0:
        return float("nan")
    return float(score / np.sqrt(float(untied_true) * float(untied_pred)))


def pairwise_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of pairs with different true accuracy whose predicted order is right.

    A pair predicted as a tie counts as wrong (it does not order the two). NaN with no such pair.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    right = compared = 0
    for s_true, s_pred in _pair_signs(y_true, y_pred):
        differ = s_true != 0
        right += int(np.sum(s_true[differ] == s_pred[differ]))
        compared += int(np.count_nonzero(differ))
    return float(right / compared) if compared else float("nan")


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """``{"rmse", "kendall_tau", "pairwise_acc", "n_test"}`` of one prediction."""
    return {"rmse": rmse(y_true, y_pred), "kendall_tau": kendall_tau(y_true, y_pred),
            "pairwise_acc": pairwise_accuracy(y_true, y_pred), "n_test": int(np.size(y_true))}


def label_reliability(halves: np.ndarray, accuracy_halves: np.ndarray | None = None) -> dict:
    """How much of the ranking of measured accuracies a label kind can explain, from the label
    (N, 2) and the accuracies (N, 2) of N samples on the two halves of their evaluation split
    (``accuracy_halves`` None: the label is the accuracy itself). Labels are oriented higher = better.

    The label's own reliability: ``split_half_tau`` / ``split_half_r`` (Kendall tau-b and Pearson
    r between its halves) and ``full_split_r``, the Spearman-Brown estimate 2 r / (1 + r) of the
    correlation between two independent measurements on whole splits.

    Against held-out accuracy (the measure of every reported figure): ``cross_half_tau`` /
    ``cross_half_r``, the label on one half against the accuracy on the other (mean of both
    ways, so no image is shared); ``true_score_r``, the correlation between the label's and the
    accuracy's noise-free values, cross_half_r / sqrt(r_label r_accuracy) (Spearman's correction
    for attenuation; 1 for accuracy itself); ``perfect_predictor_tau``, the Kendall tau that a
    predictor knowing each sub-net's noise-free label would reach against the measured
    whole-split accuracies, (2 / pi) asin(min(1, true_score_r) sqrt(full_split_r of accuracy))
    under a bivariate normal model (Greiner's relation), and ``perfect_predictor_pairwise`` =
    (1 + tau) / 2. Held-out metrics above these are not to be expected. A less noisy label cannot
    raise this ceiling (the held-out accuracies' own noise sets it); it helps a predictor learn
    from few samples. Noise that both halves share (the BN re-calibration images, a quantized
    sample's fine-tune) counts as signal here, so the ceilings are upper bounds.
    """
    halves = _halves(halves)
    accuracy = halves if accuracy_halves is None else _halves(accuracy_halves)
    if accuracy.shape != halves.shape:
        raise ValueError(f"label and accuracy halves differ in shape: {halves.shape} and {accuracy.shape}")
    r_label, r_accuracy = _corr(halves[:, 0], halves[:, 1]), _corr(accuracy[:, 0], accuracy[:, 1])
    cross_r = (_corr(halves[:, 0], accuracy[:, 1]) + _corr(halves[:, 1], accuracy[:, 0])) / 2
    cross_tau = (kendall_tau(halves[:, 0], accuracy[:, 1]) + kendall_tau(halves[:, 1], accuracy[:, 0])) / 2
    full, full_accuracy = _spearman_brown(r_label), _spearman_brown(r_accuracy)
    true_r = cross_r / np.sqrt(r_label * r_accuracy) if min(r_label, r_accuracy) > 0 else float("nan")
    tau = float(2 / np.pi * np.arcsin(min(true_r, 1.0) * np.sqrt(full_accuracy)))  # NaN stays NaN
    return {"split_half_tau": kendall_tau(halves[:, 0], halves[:, 1]), "split_half_r": r_label, "full_split_r": full,
            "cross_half_tau": cross_tau, "cross_half_r": cross_r, "true_score_r": float(true_r),
            "perfect_predictor_tau": tau, "perfect_predictor_pairwise": (1 + tau) / 2, "n_test": len(halves)}


def _halves(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != 2 or len(values) < 3 or not np.isfinite(values).all():
        raise ValueError(f"need finite halves (N >= 3, 2), got {values.shape}")
    return values


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r; NaN when either is constant."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _spearman_brown(r: float) -> float:
    # halves that disagree carry no signal to scale up
    return 2 * r / (1 + r) if r > 0 else float("nan")


def label_reliabilities(label_halves: dict[str, np.ndarray]) -> dict:
    """:func:`label_reliability` of each label kind (N, 2) against the ``"accuracy"`` halves."""
    return {kind: label_reliability(halves, label_halves["accuracy"]) for kind, halves in label_halves.items()}
