"""scikit-learn baselines fitted on the same features and splits as the MLPs.

They are fitted on the whole training pool (they need no early-stopping split); Ridge picks its
penalty by internal leave-one-out cross-validation on that pool only.
"""
from __future__ import annotations

import time

import numpy as np

from apq.predictor.metrics import evaluate


def make_baseline(name: str, n_trees: int, seed: int):
    """An unfitted scikit-learn regressor by name (see :data:`apq.predictor.config.BASELINES`)."""
    # Imported here: scikit-learn takes seconds to import, and an up-to-date run needs none of it.
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import RidgeCV

    if name == "ridge":
        return RidgeCV(alphas=np.logspace(-3, 3, 13))
    if name == "random_forest":
        return RandomForestRegressor(n_estimators=n_trees, max_features=0.3, n_jobs=-1, random_state=seed)
    if name == "gradient_boosting":
        return GradientBoostingRegressor(n_estimators=n_trees, learning_rate=0.05, max_depth=3, subsample=0.8,
                                         random_state=seed)
    raise ValueError(f"unknown baseline {name!r}")


def fit_baselines(names: tuple[str, ...], train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                  n_trees: int, seed: int) -> dict:
    """``{name: metrics + n_train + fit_seconds}`` of each baseline on (X, y) train/test pairs."""
    out = {}
    for name in names:
        start = time.perf_counter()
        model = make_baseline(name, n_trees, seed).fit(*train)
        out[name] = {**evaluate(test[1], model.predict(test[0])), "n_train": len(train[1]),
                     "fit_seconds": round(time.perf_counter() - start, 3)}
    return out
