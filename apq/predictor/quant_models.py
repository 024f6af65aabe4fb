"""The quantization-aware predictors compared by ``apq predictor``, and the choice among them.

Models (``PredictorConfig.quant_models``; each fitted on the quantized training pool):

    transfer            APQ's: the fp32 MLP plus a bit branch, fine-tuned from the fp32 predictor
    scratch             the same network trained from scratch (what transfer is judged against)
    structured_linear   fp32 predictor minus a learned logit drop, linear in the bit one-hots
                        (started from the sensitivity prior when there is one)
    structured_mlp      the same with a one-hidden-layer drop over the whole encoding
    structured_gene     the linear drop fitted in closed form from 16 numbers: a factor per bit
                        gene kind on the sensitivity prior and a drop per gene kind and narrower width
    structured_rank     the same 16 numbers fitted to order the training rows (a pairwise logistic
                        loss), not to match their drops
    structured_arch     structured_gene's 16 numbers plus one weight per architecture column in the
                        drop (a sub-net's kernels and widths shift what its bits cost), that part
                        under a ridge penalty chosen by cross-validation on the training rows
    structured_ridge    a fitted multiple of the fp32 predictor plus a ridge regression over the
                        whole encoding (closed form; the prior's summed drop is one more column)
    ensemble            the mean of transfer and the structured models (those present), minus
                        ``ensemble_spread_penalty`` standard deviations of their predictions

plus the reference they must beat, ``bits_ignored``: the fp32 predictor on the architecture part.

Choice (``select``): k-fold cross-validation over the training pool only (never the test split).
Each model is fitted on k-1 folds with each label kind the sample file offers, mapped onto the
accuracy scale (:func:`on_accuracy_scale`), and scored on the held-out fold against measured
*accuracy*: the mean of its pairwise accuracy and cost-matched pairwise accuracy, averaged over
the folds. Each model keeps its best label kind; the search uses the best model (``selected``).
"""
from __future__ import annotations

import numpy as np

from apq.predictor.config import PredictorConfig
from apq.predictor.estimator import MLPPredictor, QuantMLPPredictor
from apq.predictor.intervals import HeldOut
from apq.predictor.network import pessimistic_mean
from apq.predictor.structured import (ARCH_ALPHAS, BitsIgnoredPredictor, EnsemblePredictor, GeneDropPredictor,
                                     RidgeQuantPredictor, StructuredQuantPredictor)

#: The label every dataset has, and the one every reported figure is measured against.
ACCURACY = "accuracy"
#: Models the ensemble averages (those of them that are fitted).
ENSEMBLE_MEMBERS = ("transfer", "structured_linear", "structured_mlp", "structured_ridge")
#: Models that are never the search's predictor: scratch is transfer's comparison, bits_ignored the
#: reference; structured_ridge ranks held-out samples well but is linear in the encoding, so the GA
#: drives it to a corner where it extrapolates (docs/decisions.md "Predictor"): it serves as an
#: ensemble member.
NOT_SELECTABLE = ("scratch", "bits_ignored", "structured_ridge")


def make_quant_model(name: str, config: PredictorConfig, fp32: MLPPredictor, fp32_dim: int, floor: float,
                     seed: int, prior: np.ndarray | None = None, widths: tuple[int, ...] = ()) -> MLPPredictor:
    """An unfitted quantization-aware model by name (the ensemble is made by :func:`make_ensemble`);
    ``prior``: the sensitivity prior over the bit part (:mod:`apq.predictor.prior`), or None;
    ``widths``: the space's bit choices (``SearchSpace.bit_choices``; structured_gene needs them)."""
    if name == "bits_ignored":
        return BitsIgnoredPredictor(fp32_dim, fp32)
    if name in ("transfer", "scratch"):
        source = fp32 if name == "transfer" else None
        return QuantMLPPredictor(fp32_dim, transfer_from=source, bit_merge=config.bit_merge, bit_lr=config.bit_lr,
                                 seed=seed, **config.mlp_params(transfer=source is not None))
    if name == "structured_ridge":
        return RidgeQuantPredictor(fp32_dim, fp32, prior=prior)
    if name in ("structured_gene", "structured_rank", "structured_arch"):
        temperature = config.rank_temperature if name == "structured_rank" else None
        alphas = ARCH_ALPHAS if name == "structured_arch" else ()
        return GeneDropPredictor(fp32_dim, fp32, widths, floor, prior=prior, rank_temperature=temperature,
                                 arch_alphas=alphas)
    if name in ("structured_linear", "structured_mlp"):
        drop = name.removeprefix("structured_")
        return StructuredQuantPredictor(fp32_dim, fp32, drop=drop, floor=floor, seed=seed,
                                        prior=prior if drop == "linear" else None, **config.drop_params())
    raise ValueError(f"unknown quantization-aware model {name!r}")


def make_ensemble(fitted: dict[str, MLPPredictor], spread_penalty: float = 0.0) -> EnsemblePredictor | None:
    """The fitted (pessimistic) mean of the ensemble's members among ``fitted``; None with fewer than two."""
    members = [fitted[name] for name in ENSEMBLE_MEMBERS if name in fitted]
    return EnsemblePredictor(tuple(members), spread_penalty).fit() if len(members) >= 2 else None


def on_accuracy_scale(label: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """``label`` mapped linearly onto accuracy points by least squares on the same rows, so that a
    model fitted on it predicts accuracy (a loss label gets a negative slope); accuracy itself
    is returned as is. float32 (N,)."""
    label, accuracy = np.asarray(label, dtype=np.float64), np.asarray(accuracy, dtype=np.float64)
    if np.array_equal(label, accuracy):
        return accuracy.astype(np.float32)
    slope, intercept = np.polyfit(label, accuracy, 1)
    return (intercept + slope * label).astype(np.float32)


def label_kinds(data) -> dict[str, np.ndarray]:
    """``{kind: (N,) label}`` a dataset offers, accuracy first (``Dataset.labels`` when present)."""
    labels = dict(getattr(data, "labels", None) or {})
    labels.pop(ACCURACY, None)
    return {ACCURACY: data.y, **labels}


def fit_model(model: MLPPredictor, X: np.ndarray, accuracy: np.ndarray, label: np.ndarray) -> MLPPredictor:
    """Fit on ``label`` mapped onto the accuracy scale (early stopping on a seeded share of the rows)."""
    return model.fit(X, on_accuracy_scale(label, accuracy))


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    """``k`` disjoint seeded folds of ``range(n)``, each sorted."""
    order = np.random.default_rng([seed, k]).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]


def validation_score(y: np.ndarray, latency_ms: np.ndarray, y_pred: np.ndarray, tolerance: float) -> dict:
    """Pairwise and cost-matched pairwise accuracy of ``y_pred`` on validation rows, and their mean."""
    held = HeldOut(y, latency_ms, np.ones((1, len(y))), tolerance)
    _, _, pairwise, matched = held.figures(y_pred)[:, 0]
    finite = [v for v in (pairwise, matched) if np.isfinite(v)]
    return {"pairwise_acc": float(pairwise), "pairwise_acc_cost_matched": float(matched),
            "score": float(np.mean(finite)) if finite else float("nan")}


def select(X: np.ndarray, y: np.ndarray, labels: dict[str, np.ndarray], latency_ms: np.ndarray,
           config: PredictorConfig, fp32: MLPPredictor, fp32_dim: int, floor: float, seed: int,
           prior: np.ndarray | None = None, widths: tuple[int, ...] = ()) -> dict:
    """Cross-validated choice of each model's label kind and of the search's model, on the pool only.

    ``X`` (N, dim), ``y`` (N,) accuracy, ``labels`` {kind: (N,)}, ``latency_ms`` (N,): the pool rows.
    ``prior``, ``widths``: as :func:`make_quant_model`'s. Returns ``{"folds", "scores": {model: {kind:
    {pairwise_acc, pairwise_acc_cost_matched, score}}}, "labels": {model: best kind}, "selected": best model}``. Scratch is not fitted here (never
    selected; it is fitted on accuracy), bits_ignored is scored for comparison, structured_ridge
    for its label kind as an ensemble member.
    """
    names = [n for n in config.quant_models if n not in ("ensemble", "scratch", "bits_ignored")]
    parts = folds(len(y), config.selection_folds, seed)
    predictions: dict[tuple[str, str], list[np.ndarray]] = {}
    for part in parts:
        fit_rows = np.setdiff1d(np.arange(len(y)), part)
        for name in ["bits_ignored", *names]:
            for kind, label in (labels if name != "bits_ignored" else {ACCURACY: y}).items():
                model = make_quant_model(name, config, fp32, fp32_dim, floor, seed, prior, widths)
                fit_model(model, X[fit_rows], y[fit_rows], label[fit_rows])
                predictions.setdefault((name, kind), []).append(model.predict(X[part]))

    def score(preds: list[np.ndarray]) -> dict:
        """Each figure's mean over the folds that have pairs to compare (None if none has)."""
        per_fold = [validation_score(y[p], latency_ms[p], pred, config.cost_match_tolerance)
                    for p, pred in zip(parts, preds)]
        means = {key: [f[key] for f in per_fold if np.isfinite(f[key])] for key in per_fold[0]}
        return {key: float(np.mean(values)) if values else None for key, values in means.items()}

    scores: dict[str, dict[str, dict]] = {}
    for (name, kind), preds in predictions.items():
        scores.setdefault(name, {})[kind] = score(preds)
    best_label = {name: max(by_kind, key=lambda k: _order(by_kind[k])) for name, by_kind in scores.items()}
    members = [n for n in ENSEMBLE_MEMBERS if n in names]
    if "ensemble" in config.quant_models and len(members) >= 2:
        mean = [pessimistic_mean(np.stack([predictions[(m, best_label[m])][i] for m in members]),
                                 config.ensemble_spread_penalty) for i in range(len(parts))]
        scores["ensemble"], best_label["ensemble"] = {"members": score(mean)}, "members"
    candidates = [n for n in scores if n not in NOT_SELECTABLE]
    selected = max(candidates, key=lambda n: _order(scores[n][best_label[n]]))
    return {"folds": len(parts), "scores": scores, "labels": best_label, "selected": selected}


def _order(score: dict) -> float:
    """Sort key of a validation score; no score (no pair to compare) sorts last."""
    return -np.inf if score["score"] is None else score["score"]
