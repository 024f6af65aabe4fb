"""Realization noise and ceilings from re-measured samples (apq.predictor.retest), on synthetic labels."""
import numpy as np
import pytest

from apq.predictor.metrics import kendall_tau
from apq.predictor.retest import _same_samples, retest_reliability


def realizations(n, spread, realization, image, seed=0):
    """True values (n,) with std ``spread``, and two realizations' accuracies (n,) with realization
    noise ``realization``, scored on the same images (a shared whole-split error of std ``image``),
    and the first one's split halves (n, 2)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(85, spread, n)
    half_errors = rng.normal(0, image * np.sqrt(2), (n, 2))  # each half: twice the whole split's variance
    first = truth + rng.normal(0, realization, n)
    halves = first[:, None] + half_errors
    second = truth + rng.normal(0, realization, n) + half_errors.mean(axis=1)
    return truth, halves.mean(axis=1), second, halves


def test_noise_figures_and_ceiling_match_the_generating_model():
    truth, first, second, halves = realizations(4000, spread=3.0, realization=1.0, image=0.5)
    out = retest_reliability(first, second, first, halves)
    assert out["realization_noise_std"] == pytest.approx(1.0, rel=0.05)
    assert out["image_noise_std"] == pytest.approx(0.5, rel=0.05)
    assert out["reliability"] == pytest.approx(9 / (9 + 1 + 0.25), abs=0.02)
    # the ceiling is what a predictor knowing the truth scores against one measured realization
    assert out["perfect_predictor_tau"] == pytest.approx(kendall_tau(first, truth), abs=0.02)
    assert out["perfect_predictor_pairwise"] == pytest.approx((1 + out["perfect_predictor_tau"]) / 2)
    assert out["retest_tau"] == pytest.approx(kendall_tau(first, second))
    assert out["n_retest"] == out["n_test"] == 4000


def test_interval_over_few_pairs_holds_the_point_and_noise_lowers_the_ceiling():
    _, first, second, halves = realizations(30, spread=3.0, realization=0.7, image=0.3, seed=1)
    out = retest_reliability(first, second, first, halves)
    low, high = out["perfect_predictor_tau_ci"]
    assert low <= out["perfect_predictor_tau"] <= high and high - low > 0.005
    noisier = retest_reliability(first, first + 3 * (second - first), first, halves)
    assert noisier["perfect_predictor_tau"] < out["perfect_predictor_tau"]
    same = retest_reliability(first, first.copy(), first, halves)  # no realization noise: image noise only
    assert same["realization_noise_std"] == 0 and same["perfect_predictor_tau"] > out["perfect_predictor_tau"]


def test_pure_noise_has_no_ceiling_and_bad_shapes_are_refused():
    rng = np.random.default_rng(2)
    first, second = rng.normal(85, 1, 200), rng.normal(85, 1, 200)
    out = retest_reliability(first, second, first, np.stack([first, first], 1))
    assert out["reliability"] == 0 and out["perfect_predictor_tau"] == 0
    with pytest.raises(ValueError, match="at least 3"):
        retest_reliability(first[:2], second[:2], first, np.stack([first, first], 1))
    with pytest.raises(ValueError):
        retest_reliability(first, second[:10], first, np.stack([first, first], 1))


def test_a_retest_file_pairs_only_with_the_samples_it_re_measured():
    main = {"stage": "samples_quant", "settings": {"kind": "quant", "evaluation": {"val_images": 0}},
            "shared": {"space": "fmnist"}, "upstream": {"supernet.pt": "abc"}, "fingerprint": "f1"}
    retest = {**main, "settings": {**main["settings"], "replicate": 1}, "fingerprint": "f2"}
    assert _same_samples(main, retest)
    assert not _same_samples(main, main)  # a second copy of the samples is no re-measurement
    assert not _same_samples(main, {**retest, "upstream": {"supernet.pt": "other"}})
    assert not _same_samples(None, retest) and not _same_samples(main, {})
