"""Paired comparison of two models tested on the same images, and the compact form of a per-image
correctness vector stored in ``verify.json``.

Two models measured on one test split are not independent samples: most images are classified
alike by both, and only the *discordant* images (right for one, wrong for the other) carry the
difference. Hence a paired bootstrap over test images for the interval and the exact McNemar test
(a binomial test on the discordant counts) for the p-value.
"""
from __future__ import annotations

import base64

import numpy as np
from scipy.stats import binomtest


def pack_correct(correct: np.ndarray) -> str:
    """Base64 text of ``np.packbits`` of a (n,) bool vector (n / 8 bytes; n is stored beside it)."""
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode("ascii")


def unpack_correct(text: str, n: int) -> np.ndarray:
    """The (n,) bool vector :func:`pack_correct` encoded (``n``: its length, the number of test images)."""
    packed = np.frombuffer(base64.b64decode(text), dtype=np.uint8)
    if len(packed) != (n + 7) // 8:
        raise ValueError(f"packed correctness holds {8 * len(packed)} bits, expected {n} images")
    return np.unpackbits(packed, count=n).astype(bool)


def discordant(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """(images only ``a`` classifies correctly, images only ``b`` does) of two (n,) bool vectors."""
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired vectors must be (n,) of one length, got {a.shape} and {b.shape}")
    return int(np.count_nonzero(a & ~b)), int(np.count_nonzero(b & ~a))


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: binomial test of ``a_only`` successes in ``a_only + b_only``
    discordant images with p = 0.5; 1.0 when there are none."""
    total = a_only + b_only
    return 1.0 if total == 0 else float(binomtest(a_only, total, 0.5).pvalue)


def bootstrap_diffs(a_only: int, b_only: int, n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot,) accuracy differences a minus b, in percent points, of paired bootstrap resamples.

    A resample draws n image indices with replacement, the same for both models; its difference is
    (a-only images drawn - b-only images drawn) / n, so it depends only on those two counts, which
    are one multinomial draw over (a-only, b-only, concordant) with n trials and the observed
    proportions. Drawing the counts is exact and costs O(n_boot) instead of O(n_boot * n).
    """
    if n == 0:
        return np.zeros(n_boot)
    probs = np.array([a_only, b_only, n - a_only - b_only], dtype=np.float64) / n
    counts = np.random.default_rng(seed).multinomial(n, probs, size=n_boot)
    return 100.0 * (counts[:, 0] - counts[:, 1]) / n


def paired_comparison(correct_a: np.ndarray, correct_b: np.ndarray, n_boot: int = 10000, seed: int = 0) -> dict:
    """Compare two models on the same n test images from their (n,) bool per-image correctness.

    Returns ``diff`` (accuracy of a minus b, percent points), ``ci95`` ([lo, hi], percent points:
    2.5th and 97.5th percentiles of ``n_boot`` paired bootstrap resamples over images, seeded by
    ``seed``; see :func:`bootstrap_diffs`), ``p_mcnemar`` (exact two-sided McNemar p-value,
    :func:`mcnemar_exact`) and ``discordant`` ([images only a gets right, images only b gets right]).
    """
    a_only, b_only = discordant(correct_a, correct_b)
    n = len(correct_a)
    diffs = bootstrap_diffs(a_only, b_only, n, n_boot, seed)
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return {"diff": 100.0 * (a_only - b_only) / max(n, 1), "ci95": [float(lo), float(hi)],
            "p_mcnemar": mcnemar_exact(a_only, b_only), "discordant": [a_only, b_only]}
