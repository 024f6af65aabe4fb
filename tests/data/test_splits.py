import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from apq.data.datasets import Dataset
from apq.data.splits import channel_stats, make_splits, normalize, train_val_split
from apq.errors import UserError
from apq.space.registry import create_space
from tests.helpers.cli import apq, assert_user_error
from tests.helpers.datasets import write_mnist_dir


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 3000), frac=st.floats(0, 1), seed=st.integers(0, 2**32 - 1))
def test_split_deterministic_disjoint_complete(n, frac, seed):
    val_size = 1 + int(frac * (n - 2))
    train_idx, val_idx = train_val_split(n, val_size, seed)
    again = train_val_split(n, val_size, seed)
    np.testing.assert_array_equal(train_idx, again[0])
    np.testing.assert_array_equal(val_idx, again[1])
    assert len(val_idx) == val_size and len(train_idx) == n - val_size
    assert np.intersect1d(train_idx, val_idx).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    assert train_idx.dtype == val_idx.dtype == np.int64


def test_seed_changes_split():
    assert not np.array_equal(train_val_split(1000, 100, 0)[1], train_val_split(1000, 100, 1)[1])


@pytest.mark.parametrize("n, val", [(10, 0), (10, 10), (10, -1), (1, 1)])
def test_bad_sizes(n, val):
    with pytest.raises(UserError):
        train_val_split(n, val, 0)


def test_normalize_layout_and_stats():
    images = np.zeros((2, 3, 4, 2), np.uint8)
    images[..., 0] = 255
    images[0, ..., 1] = 51
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, [1.0, 0.1])
    np.testing.assert_allclose(std, [1.0, 0.1])  # constant channel 0 gets std 1
    x = normalize(images, mean, std)
    assert x.shape == (2, 2, 3, 4) and x.dtype == np.float32 and x.flags.c_contiguous
    np.testing.assert_allclose(x[:, 0], 0.0)
    np.testing.assert_allclose(x[0, 1], 1.0, rtol=1e-6)
    np.testing.assert_allclose(x[1, 1], -1.0, rtol=1e-6)


def test_channel_stats_equal_numpy_over_many_chunks():
    images = np.random.default_rng(1).integers(0, 256, (300, 20, 20, 3), dtype=np.uint8)
    mean, std = channel_stats(images)
    np.testing.assert_allclose(mean, images.mean(axis=(0, 1, 2)) / 255, rtol=1e-6)
    np.testing.assert_allclose(std, images.std(axis=(0, 1, 2)) / 255, rtol=1e-6)


def tiny_dataset(n_train=50, n_test=7):
    rng = np.random.default_rng(3)
    return Dataset("tiny", rng.integers(0, 256, (n_train, 5, 5, 3), dtype=np.uint8),
                   np.arange(n_train) % 4, rng.integers(0, 256, (n_test, 5, 5, 3), dtype=np.uint8),
                   np.arange(n_test) % 4, ["a", "b", "c", "d"], "mem")


def test_make_splits():
    ds = tiny_dataset()
    splits = make_splits(ds, val_size=10, seed=5)
    assert splits.train_x.shape == (40, 3, 5, 5) and splits.val_x.shape == (10, 3, 5, 5)
    assert splits.test_x.shape == (7, 3, 5, 5) and splits.input_shape == (3, 5, 5)
    assert splits.mean.shape == splits.std.shape == (3,)
    # statistics come from the remaining train images only
    np.testing.assert_allclose(splits.train_x.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(splits.train_x.std(axis=(0, 2, 3)), 1, atol=1e-4)
    _, val_idx = train_val_split(50, 10, 5)
    np.testing.assert_array_equal(splits.val_idx, val_idx)
    np.testing.assert_array_equal(splits.val_y, ds.train_y[val_idx])
    expected = (ds.train_x[val_idx].transpose(0, 3, 1, 2) / 255 - splits.mean[:, None, None]) \
        / splits.std[:, None, None]
    np.testing.assert_allclose(splits.val_x, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(splits.test_y, ds.test_y)
    again = make_splits(ds, val_size=10, seed=5)
    np.testing.assert_array_equal(again.train_x, splits.train_x)


def test_validation_split_larger_than_the_train_split_is_one_line(tmp_path):
    """``--set preset.val_size=70000`` on a 1,500-image train split: one line naming the fix, nothing written."""
    data = tmp_path / "digits-data"
    write_mnist_dir(data, n_train=1500, n_test=20, gzip=False)
    space = tmp_path / "digits.json"
    space.write_text(json.dumps({**create_space("fmnist").config.to_dict(), "name": "digits", "dataset": "mnist"}))
    result = apq("supernet", "--space", str(space), "--data-dir", str(data), "--preset", "smoke",
                 "--set", "preset.val_size=70000", root=tmp_path)
    assert_user_error(result, "70000", "1499", "--set preset.val_size=N", "preset.val_size=auto")
    assert not (tmp_path / "data" / "digits").exists()
