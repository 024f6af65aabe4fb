"""Metrics on tiny hand-computed arrays, and Kendall tau-b against scipy on larger tied data."""
import numpy as np
import pytest
from scipy.stats import kendalltau

from apq.predictor.metrics import (evaluate, kendall_tau, label_reliabilities, label_reliability,
                                   pairwise_accuracy, rmse)


def test_rmse_by_hand():
    assert rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(np.sqrt(4 / 3))
    assert rmse([80.0], [80.0]) == 0.0


def test_one_swapped_pair():
    # 6 pairs: (1,2) discordant, the other 5 concordant
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert pairwise_accuracy([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(5 / 6)


def test_ties_in_truth_are_skipped_by_pairwise_and_tau_b():
    # pairs: (0,1) tied in truth; (0,2), (1,2) concordant -> tau-b = 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / np.sqrt(6))
    assert pairwise_accuracy([1, 1, 2], [1, 2, 3]) == 1.0


def test_predicted_tie_orders_nothing():
    assert pairwise_accuracy([1, 2, 3], [5, 5, 6]) == pytest.approx(2 / 3)
    assert np.isnan(kendall_tau([1, 2], [5, 5]))
    assert np.isnan(pairwise_accuracy([3, 3], [1, 2]))


def test_reversed_order():
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pairwise_accuracy([1, 2, 3], [3, 2, 1]) == 0.0


@pytest.mark.parametrize("n", [7, 1500])  # 1500 spans two row blocks
def test_tau_b_matches_scipy_with_ties(n):
    rng = np.random.default_rng(n)
    y_true, y_pred = rng.integers(0, 20, n).astype(float), rng.integers(0, 20, n) + rng.normal(0, 3, n).round()
    assert kendall_tau(y_true, y_pred) == pytest.approx(kendalltau(y_true, y_pred).statistic, abs=1e-12)


def test_pairwise_by_brute_force():
    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 5, 30), rng.integers(0, 5, 30)
    pairs = [(i, j) for i in range(30) for j in range(i + 1, 30) if t[i] != t[j]]
    right = sum(np.sign(t[i] - t[j]) == np.sign(p[i] - p[j]) for i, j in pairs)
    assert pairwise_accuracy(t, p) == pytest.approx(right / len(pairs))


def test_evaluate():
    a = evaluate([1, 2, 3, 4], [1, 3, 2, 4])
    assert a == {"rmse": pytest.approx(np.sqrt(0.5)), "kendall_tau": pytest.approx(4 / 6),
                 "pairwise_acc": pytest.approx(5 / 6), "n_test": 4}


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        rmse([1, 2], [1])
    with pytest.raises(ValueError):
        kendall_tau([], [])


def test_label_reliability_by_hand():
    # halves that agree but for one swapped pair: deviations (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5)
    # give r = 4 / 5 and tau = (5 - 1) / 6
    halves = np.array([[1.0, 1.0], [2.0, 3.0], [3.0, 2.0], [4.0, 4.0]])
    out = label_reliability(halves)
    assert out["split_half_r"] == pytest.approx(0.8)
    assert out["split_half_tau"] == pytest.approx(4 / 6)
    assert out["full_split_r"] == pytest.approx(2 * 0.8 / 1.8)
    tau = 2 / np.pi * np.arcsin(np.sqrt(8 / 9))
    assert out["perfect_predictor_tau"] == pytest.approx(tau)
    assert out["perfect_predictor_pairwise"] == pytest.approx((1 + tau) / 2)
    assert out["n_test"] == 4


def test_label_reliability_noise_free_and_pure_noise():
    rng = np.random.default_rng(0)
    truth = rng.normal(90, 1, 400)
    assert label_reliability(np.stack([truth, truth], 1))["perfect_predictor_tau"] == pytest.approx(1.0)
    noise = label_reliability(rng.normal(90, 1, (400, 2)))
    assert abs(noise["split_half_tau"]) < 0.1
    with pytest.raises(ValueError):
        label_reliability(np.ones((2, 2)))


def test_label_reliability_of_a_soft_label_against_held_out_accuracy():
    """Simulated samples: the reported ceiling of each label kind matches the Kendall tau between
    its noise-free value and the measured whole-split accuracy."""
    rng = np.random.default_rng(1)
    n = 1500
    truth = rng.normal(0, 1, n)
    other = rng.normal(0, 1, n)  # signal of the soft label that accuracy does not share
    accuracy = truth[:, None] + rng.normal(0, 0.8, (n, 2))
    soft_true = truth + 0.5 * other
    soft = soft_true[:, None] + rng.normal(0, 0.2, (n, 2))
    measured = accuracy.mean(axis=1)
    for label, noise_free in ((accuracy, truth), (soft, soft_true)):
        out = label_reliability(label, accuracy)
        assert out["perfect_predictor_tau"] == pytest.approx(kendall_tau(measured, noise_free), abs=0.04)
    soft_out = label_reliability(soft, accuracy)
    assert soft_out["true_score_r"] == pytest.approx(1 / np.sqrt(1.25), abs=0.03)
    assert soft_out["split_half_r"] > label_reliability(accuracy)["split_half_r"]  # less noisy, yet a lower ceiling
    assert soft_out["perfect_predictor_tau"] < label_reliability(accuracy)["perfect_predictor_tau"]
    assert label_reliability(accuracy, accuracy) == label_reliability(accuracy)
    unrelated = label_reliability(other[:, None] + rng.normal(0, 0.2, (n, 2)), accuracy)
    assert abs(unrelated["cross_half_tau"]) < 0.05 and abs(unrelated["perfect_predictor_tau"]) < 0.05
    with pytest.raises(ValueError, match="differ in shape"):
        label_reliability(soft, accuracy[:10])


def test_label_reliabilities_of_every_kind_are_measured_against_accuracy():
    rng = np.random.default_rng(2)
    truth = rng.normal(90, 1, 300)
    halves = {"accuracy": truth[:, None] + rng.normal(0, 0.5, (300, 2)),
              "loss": -truth[:, None] / 30 + rng.normal(0, 0.005, (300, 2))}
    out = label_reliabilities({"accuracy": halves["accuracy"], "loss": -halves["loss"]})
    assert set(out) == {"accuracy", "loss"}
    assert out["accuracy"] == label_reliability(halves["accuracy"])
    assert out["loss"] == label_reliability(-halves["loss"], halves["accuracy"])
    assert out["loss"]["true_score_r"] > 0.9
