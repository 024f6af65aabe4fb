"""Paired statistics of two models on the same test images, against hand-computed cases."""
import numpy as np
import pytest

from apq.verify.stats import bootstrap_diffs, pack_correct, paired_comparison, unpack_correct


def pair(a_only: int, b_only: int, both: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors with the given counts of a-only, b-only, both-right and both-wrong images."""
    a = np.array([1] * a_only + [0] * b_only + [1] * both + [0] * neither, dtype=bool)
    b = np.array([0] * a_only + [1] * b_only + [1] * both + [0] * neither, dtype=bool)
    perm = np.random.default_rng(3).permutation(len(a))
    return a[perm], b[perm]


def test_identical_vectors_differ_by_nothing():
    a, _ = pair(0, 0, 70, 30)
    out = paired_comparison(a, a.copy())
    assert out == {"diff": 0.0, "ci95": [0.0, 0.0], "p_mcnemar": 1.0, "discordant": [0, 0]}


def test_a_known_discordant_split():
    a, b = pair(8, 2, 60, 30)
    out = paired_comparison(a, b)
    assert out["discordant"] == [8, 2]
    assert out["diff"] == pytest.approx(6.0)  # (8 - 2) / 100 images, in points
    # two-sided exact binomial, 2 successes of 10 at p = 1/2: 2 * (C(10,0) + C(10,1) + C(10,2)) / 2^10
    assert out["p_mcnemar"] == pytest.approx(2 * (1 + 10 + 45) / 1024)
    lo, hi = out["ci95"]
    assert lo < out["diff"] < hi and lo >= -100.0 and hi <= 100.0


def test_three_one_sided_discordant_images():
    a, b = pair(0, 3, 5, 2)
    out = paired_comparison(a, b)
    assert out["diff"] == pytest.approx(-30.0) and out["discordant"] == [0, 3]
    assert out["p_mcnemar"] == pytest.approx(2 * 0.5 ** 3)


def test_interval_narrows_with_more_images():
    small = paired_comparison(*pair(8, 4, 60, 28))
    large = paired_comparison(*(np.tile(v, 100) for v in pair(8, 4, 60, 28)))
    assert small["diff"] == pytest.approx(large["diff"])
    width = [r["ci95"][1] - r["ci95"][0] for r in (small, large)]
    assert width[1] < width[0] / 5  # about 1 / sqrt(100) as wide
    assert large["ci95"][0] > 0 > small["ci95"][0]  # 4 points is significant on 10,000 images only
    assert large["p_mcnemar"] < 1e-10 < small["p_mcnemar"]


def test_the_count_bootstrap_matches_resampling_image_indices():
    """Drawing (a-only, b-only) counts is the same distribution as resampling indices directly."""
    a, b = pair(30, 10, 140, 20)
    rng = np.random.default_rng(1)
    idx = rng.integers(0, len(a), size=(4000, len(a)))
    direct = 100.0 * (a[idx].mean(axis=1) - b[idx].mean(axis=1))
    counted = bootstrap_diffs(30, 10, len(a), 4000, seed=2)
    assert counted.mean() == pytest.approx(direct.mean(), abs=0.15)
    assert counted.std() == pytest.approx(direct.std(), rel=0.06)


def test_the_bootstrap_is_seeded():
    a, b = pair(5, 9, 50, 36)
    assert paired_comparison(a, b, seed=4) == paired_comparison(a, b, seed=4)


def test_unequal_lengths_are_refused():
    with pytest.raises(ValueError):
        paired_comparison(np.ones(3, bool), np.ones(4, bool))


@pytest.mark.parametrize("n", [1, 7, 8, 9, 1000])
def test_correctness_bits_round_trip(n):
    correct = np.random.default_rng(n).random(n) < 0.7
    text = pack_correct(correct)
    assert len(text) <= 4 * ((n + 7) // 8 + 2) // 3
    assert np.array_equal(unpack_correct(text, n), correct)
    with pytest.raises(ValueError):
        unpack_correct(text, n + 8)
