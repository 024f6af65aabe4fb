"""Sample files as datasets: fixed hash splits that survive appends, budgets, fingerprints, refusals."""
import numpy as np
import pytest

from apq.errors import UserError
from apq.predictor.data import budget_rows, in_test_split, load_dataset, split
from apq.predictor.synthetic import write_synthetic_samples


def test_split_is_by_sample_index_and_survives_appends():
    index = np.arange(2000)
    mask = in_test_split(index, 0.25, seed=0)
    assert 0.2 < mask.mean() < 0.3
    assert np.array_equal(in_test_split(index[:500], 0.25, 0), mask[:500])  # a shorter file: same choices
    assert np.array_equal(in_test_split(index[::-1], 0.25, 0), mask[::-1])  # order does not matter
    assert not np.array_equal(in_test_split(index, 0.25, 1), mask)


def test_smaller_test_fraction_is_a_subset():
    index = np.arange(3000)
    assert np.all(in_test_split(index, 0.25, 7)[in_test_split(index, 0.2, 7)])


def test_budget_rows():
    pool = np.arange(10, 60)
    rows = budget_rows(pool, 20, seed=3)
    assert len(rows) == 20 and set(rows) <= set(pool) and np.array_equal(rows, budget_rows(pool, 20, 3))
    assert np.array_equal(budget_rows(pool, 999, 0), pool)


def test_load_split_and_fingerprint(fmnist, synthetic_samples, tmp_path):
    data = load_dataset(fmnist, "quant")
    assert data.X.shape == (80, 400) and data.X.dtype == np.float32 and data.y.shape == (80,)
    pool, test = split(data, 0.25, 0)
    assert len(np.intersect1d(pool, test)) == 0 and len(pool) + len(test) == 80
    assert data.fingerprint["rows"] == 80 and data.fingerprint["file"] == "samples_quant.h5"
    other = load_dataset(fmnist, "quant", write_synthetic_samples(fmnist, tmp_path / "q.h5", "quant", 80, seed=4))
    assert other.fingerprint["sha256"] != data.fingerprint["sha256"]


def test_missing_mismatched_and_tiny_files(fmnist, apq_space, tmp_path):
    with pytest.raises(UserError, match="no quant sample file .*apq samples --space fmnist --quant"):
        load_dataset(fmnist, "quant")
    foreign = write_synthetic_samples(apq_space, tmp_path / "apq.h5", "fp32", 3)
    with pytest.raises(UserError, match="space='imagenet-apq'.*space='fmnist'"):
        load_dataset(fmnist, "fp32", foreign)
    tiny = load_dataset(fmnist, "fp32", write_synthetic_samples(fmnist, tmp_path / "tiny.h5", "fp32", 6))
    with pytest.raises(UserError, match="too few"):
        split(tiny, 0.25, 0)
