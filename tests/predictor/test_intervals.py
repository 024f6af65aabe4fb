"""Bootstrap figures: the plain figure equals metrics.evaluate, every resample equals the figure
recomputed on an explicit resample, cost matching by brute force, paired differences."""
import numpy as np
import pytest

from apq.predictor.intervals import FIGURES, HeldOut, cost_matched_pairs, resample_counts
from apq.predictor.metrics import evaluate, kendall_tau, pairwise_accuracy, rmse


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    y = np.round(rng.normal(85, 2, n), 1)  # rounding makes ties in truth
    pred = y + rng.normal(0, 1.5, n)
    pred[:4] = pred[4]  # and ties in prediction
    latency = rng.uniform(1, 3, n)
    return y, pred, latency


def test_plain_figure_equals_evaluate():
    y, pred, latency = _data()
    report = HeldOut.make(y, latency, 50, seed=0).report(pred)
    plain = evaluate(y, pred)
    for name in ("rmse", "kendall_tau", "pairwise_acc"):
        assert report[name] == pytest.approx(plain[name], abs=1e-12)
    assert report["n_test"] == len(y)


def test_each_resample_equals_the_figure_of_an_explicit_resample():
    y, pred, latency = _data(25, seed=1)
    counts = resample_counts(25, 30, seed=5)
    assert counts.shape == (31, 25) and np.all(counts.sum(1) == 25) and np.all(counts[0] == 1)
    values = HeldOut(y, latency, counts).figures(pred)
    matched = cost_matched_pairs(latency, 0.1)
    for r in range(1, 31):
        take = np.repeat(np.arange(25), counts[r].astype(int))
        assert values[0, r] == pytest.approx(rmse(y[take], pred[take]))
        assert values[1, r] == pytest.approx(kendall_tau(y[take], pred[take]), nan_ok=True)
        assert values[2, r] == pytest.approx(pairwise_accuracy(y[take], pred[take]), nan_ok=True)
        # cost-matched pairwise over the resample's pairs, by brute force over positions
        right = compared = 0
        for a in range(25):
            for b in range(a + 1, 25):
                i, j = take[a], take[b]
                if matched[i, j] and y[i] != y[j]:
                    compared += 1
                    right += np.sign(y[i] - y[j]) == np.sign(pred[i] - pred[j])
        assert values[3, r] == pytest.approx(right / compared if compared else np.nan, nan_ok=True)


def test_cost_matched_pairs_by_hand():
    matched = cost_matched_pairs(np.array([1.0, 1.09, 1.18, 2.0]), 0.10)
    # 1.0-1.09 within 10 % of 1.0; 1.09-1.18 within 10 % of 1.09; 1.0-1.18 not; 2.0 alone
    assert matched[0, 1] and matched[1, 2] and not matched[0, 2] and not matched[2, 3]
    assert np.array_equal(matched, matched.T) and matched.diagonal().all()


def test_cost_matched_only_counts_close_pairs():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([2.0, 1.0, 3.0, 4.0])  # only the pair (0, 1) is wrong
    latency = np.array([1.0, 1.05, 5.0, 5.2])  # matched pairs: (0, 1) and (2, 3)
    report = HeldOut.make(y, latency, 20, seed=0).report(pred)
    assert report["pairwise_acc"] == pytest.approx(5 / 6)
    assert report["pairwise_acc_cost_matched"] == pytest.approx(1 / 2)
    assert report["n_cost_matched_pairs"] == 2


def test_interval_brackets_the_figure_and_narrows_with_more_samples():
    widths = []
    for n in (30, 300):
        y, pred, latency = _data(n, seed=2)
        report = HeldOut.make(y, latency, 400, seed=0).report(pred)
        for name in FIGURES:
            lo, hi = report[f"{name}_ci"]
            assert lo <= report[name] <= hi
        widths.append(report["pairwise_acc_ci"][1] - report["pairwise_acc_ci"][0])
    assert widths[1] < widths[0] / 2


def test_seeded_and_paired_difference():
    y, pred, latency = _data(200)
    other = pred + np.random.default_rng(9).normal(0, 4, len(y))
    held = HeldOut.make(y, latency, 200, seed=3)
    assert held.report(pred) == HeldOut.make(y, latency, 200, seed=3).report(pred)
    diff = held.difference(pred, other)
    assert diff["pairwise_acc"] == pytest.approx(held.report(pred)["pairwise_acc"] - held.report(other)["pairwise_acc"])
    assert diff["pairwise_acc_ci"][0] > 0  # the less noisy prediction ranks better on nearly every resample


def test_no_latency_means_no_cost_matched_figure():
    y, pred, _ = _data()
    report = HeldOut.make(y, None, 10, seed=0).report(pred)
    assert report["pairwise_acc_cost_matched"] is None and report["pairwise_acc_cost_matched_ci"] == [None, None]
