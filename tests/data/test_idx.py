import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from apq.data.idx import (load_idx_images, load_idx_labels, load_idx_pair, parse_idx, read_idx,
                          write_idx)
from apq.errors import UserError

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("shape", [(5,), (3, 4, 2), (2, 3, 3, 3)])
def test_round_trip(tmp_path, compress, shape):
    array = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    path = write_idx(tmp_path / "a.idx", array, gzip=compress)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.uint8 and back.shape == shape
    np.testing.assert_array_equal(back, array)
    back[...] = 0  # the result is writable, not a view on the file bytes


def test_gzip_detected_by_magic_not_extension(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 2, 2)
    gz_without_ext = write_idx(tmp_path / "images-idx3-ubyte", array, gzip=True)
    raw_with_gz_ext = write_idx(tmp_path / "images-idx3-ubyte.gz", array, gzip=False)
    np.testing.assert_array_equal(read_idx(gz_without_ext), array)
    np.testing.assert_array_equal(read_idx(raw_with_gz_ext), array)


def test_header_layout_is_big_endian(tmp_path):
    path = write_idx(tmp_path / "x", np.zeros((2, 3), dtype=np.uint8))
    assert path.read_bytes()[:12] == bytes([0, 0, 8, 2]) + struct.pack(">II", 2, 3)


def test_images_get_channel_axis_and_labels_int64(tmp_path):
    images = write_idx(tmp_path / "i", np.zeros((4, 5, 6), dtype=np.uint8))
    labels = write_idx(tmp_path / "l", np.array([0, 1, 2, 9], dtype=np.uint8), gzip=True)
    x, y = load_idx_pair(images, labels)
    assert x.shape == (4, 5, 6, 1) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 2, 9]


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x0d\x01", b"\x00\x00\x08\x00",
                                   b"\x00\x00\x08\x05", b"PK\x03\x04"])
def test_bad_magic(tmp_path, magic):
    path = tmp_path / "bad"
    path.write_bytes(magic + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(UserError, match="bad IDX magic") as info:
        read_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data(tmp_path, compress):
    data = write_idx(tmp_path / "ok", np.ones((4, 3, 3), dtype=np.uint8)).read_bytes()[:-5]
    path = tmp_path / "short"
    path.write_bytes(gzip.compress(data) if compress else data)
    with pytest.raises(UserError, match="truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_oversized_data(tmp_path):
    path = write_idx(tmp_path / "big", np.ones((2, 2), dtype=np.uint8))
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(UserError, match="oversized"):
        read_idx(path)


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x00\x00\x08\x03\x00\x00\x00\x02"])
def test_too_short_for_header(data):
    with pytest.raises(UserError):
        parse_idx(data, "x")


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "z", np.ones((50, 10), dtype=np.uint8), gzip=True)
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(UserError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="cannot read"):
        read_idx(tmp_path / "nope")


def test_wrong_label_count(tmp_path):
    images = write_idx(tmp_path / "i", np.zeros((4, 2, 2), dtype=np.uint8))
    labels = write_idx(tmp_path / "l", np.zeros(3, dtype=np.uint8))
    with pytest.raises(UserError, match="3 labels but .* 4 images"):
        load_idx_pair(images, labels)


def test_labels_must_be_1d(tmp_path):
    labels = write_idx(tmp_path / "l", np.zeros((4, 2, 2), dtype=np.uint8))
    with pytest.raises(UserError, match="expected 1-D labels"):
        load_idx_labels(labels)
    images = write_idx(tmp_path / "i", np.zeros((4, 2, 2), dtype=np.uint8))
    with pytest.raises(UserError, match="1-D labels"):
        load_idx_pair(images, labels)


def test_images_must_be_3d_or_4d(tmp_path):
    path = write_idx(tmp_path / "i", np.zeros(4, dtype=np.uint8))
    with pytest.raises(UserError, match="expected images"):
        load_idx_images(path)


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int32))


@pytest.mark.skipif(not (FASHION / "train-images-idx3-ubyte.gz").is_file(),
                    reason="Fashion-MNIST not installed in /usr/share/datasets")
def test_real_fashion_mnist_files():
    x, y = load_idx_pair(FASHION / "t10k-images-idx3-ubyte.gz",
                         FASHION / "t10k-labels-idx1-ubyte.gz")
    assert x.shape == (10000, 28, 28, 1) and y.shape == (10000,)
    assert set(np.unique(y)) == set(range(10))
