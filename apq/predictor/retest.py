"""Label noise the split halves cannot see: the same samples measured twice.

A sample's accuracy depends on random draws besides its evaluation images: the calibration pool
(BN statistics and activation ranges, shared by all samples of a file) and, for a quantized
sample, its fine-tune's batch order. Both halves of one evaluation share those draws, so the
split-half ceilings of :func:`apq.predictor.metrics.label_reliability` count that noise as
signal. ``apq samples`` therefore measures samples 0..K-1 again with other draws
(``samples_<kind>_retest.h5``, :func:`apq.samples.draw.replicate_seed`), and :func:`retest_reliability`
puts both noise sources together, in accuracy points, under the model y = mu + a + e (a: the
realization's effect, e: the finite evaluation split's):

- ``realization_noise_std``: sqrt(var(y1 - y2) / 2) over the K pairs. Two realizations are scored
  on the same images, so this holds the part of e they do not share too: a slight overestimate.
- ``image_noise_std``: sqrt(var(h1 - h2) / 4) over the held-out samples' split halves h1, h2
  (the whole split's sampling error).
- ``reliability``: 1 - (realization + image variance) / var(y) over the held-out accuracies.
- ``perfect_predictor_tau`` = (2 / pi) asin(sqrt(reliability)) (bivariate normal, Greiner's
  relation) and ``perfect_predictor_pairwise`` = (1 + tau) / 2: what a predictor knowing each
  sub-net's expected accuracy would score against the held-out accuracies. With ``*_ci``: a 95 %
  bootstrap interval over the K pairs (the held-out figures fixed).
- ``retest_tau``: Kendall tau between the two realizations of the K samples.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from apq.predictor.metrics import kendall_tau
from apq.samples.store import read_identity, read_samples

log = logging.getLogger(__name__)

#: Bootstrap resamples of the re-measured pairs behind each interval.
RESAMPLES = 1000


def retest_reliability(first: np.ndarray, second: np.ndarray, held_out: np.ndarray, held_out_halves: np.ndarray,
                       seed: int = 0) -> dict:
    """Noise and ceilings from ``first`` / ``second`` (K,), two realizations of the same K samples'
    accuracy (percent), and the held-out samples' accuracies (N,) and split halves (N, 2)."""
    first, second = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    held_out = np.asarray(held_out, dtype=np.float64)
    halves = np.asarray(held_out_halves, dtype=np.float64)
    if first.shape != second.shape or first.ndim != 1 or len(first) < 3:
        raise ValueError(f"need two realizations of at least 3 samples, got {first.shape} and {second.shape}")
    image_var = float(np.var(halves[:, 0] - halves[:, 1], ddof=1) / 4)
    total_var = float(np.var(held_out, ddof=1))
    diff = first - second
    point = _ceiling(float(np.var(diff, ddof=1) / 2), image_var, total_var)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(diff), size=(RESAMPLES, len(diff)))
    boot = np.array([_ceiling(float(np.var(diff[d], ddof=1) / 2), image_var, total_var)["perfect_predictor_tau"]
                     for d in draws])
    low, high = np.percentile(boot, [2.5, 97.5])
    return {**point, "perfect_predictor_tau_ci": [float(low), float(high)],
            "perfect_predictor_pairwise_ci": [float((1 + low) / 2), float((1 + high) / 2)],
            "image_noise_std": float(np.sqrt(image_var)), "retest_tau": kendall_tau(first, second),
            "n_retest": len(diff), "n_test": len(held_out)}


def _ceiling(realization_var: float, image_var: float, total_var: float) -> dict:
    reliability = max(0.0, 1 - (realization_var + image_var) / total_var) if total_var > 0 else float("nan")
    tau = float(2 / np.pi * np.arcsin(np.sqrt(reliability)))
    return {"realization_noise_std": float(np.sqrt(realization_var)), "reliability": reliability,
            "perfect_predictor_tau": tau, "perfect_predictor_pairwise": (1 + tau) / 2}


def paired_retest(main_path: Path, retest_path: Path, index: np.ndarray, accuracy: np.ndarray,
                  **identity) -> tuple[np.ndarray, np.ndarray] | None:
    """(first, second) accuracies of the samples both files hold, from the main file's ``index`` (N,)
    and ``accuracy`` (N,) and the retest file; None when there is no retest file, or it re-measured
    other samples (another supernet or settings: logged), or fewer than 3 of them."""
    if not retest_path.exists():
        return None
    if not _same_samples(read_identity(main_path)[0], read_identity(retest_path)[0]):
        log.warning("%s re-measured samples of other settings or another supernet; its noise is not reported "
                    "(run 'apq samples' again to remake it)", retest_path)
        return None
    again = read_samples(retest_path, **identity)
    shared, in_main, in_again = np.intersect1d(index, again.index, return_indices=True)
    if len(shared) < 3:
        return None
    return np.asarray(accuracy)[in_main], again.accuracy[in_again].astype(np.float64)


def _same_samples(main: dict | None, retest: dict | None) -> bool:
    """Whether a retest file's stamp is the main file's but for its ``replicate`` setting."""
    if not main or not retest:
        return False
    strip = ("fingerprint",)
    main = {k: v for k, v in main.items() if k not in strip}
    retest = {k: v for k, v in retest.items() if k not in strip}
    settings = dict(retest.get("settings", {}))
    if not settings.pop("replicate", None):
        return False
    return {**retest, "settings": settings} == main
