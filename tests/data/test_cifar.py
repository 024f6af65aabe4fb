import numpy as np
import pytest

from apq.data.cifar import (CIFAR10, CIFAR100, CIFAR100_CLASSES, load_cifar10, load_cifar100,
                            read_cifar_batch)
from apq.errors import UserError


def records(labels, seed=0):
    """Records (N, label_bytes + 3072) and the HWC images they encode."""
    labels = np.asarray(labels, dtype=np.uint8).reshape(len(labels), -1)
    images = np.random.default_rng(seed).integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    planes = images.transpose(0, 3, 1, 2).reshape(len(labels), -1)  # R plane, G plane, B plane
    return np.concatenate([labels, planes], axis=1), images


def write_cifar10(root, per_batch=2):
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(CIFAR10.train_files + CIFAR10.test_files):
        recs, _ = records([(i + j) % 10 for j in range(per_batch)], seed=i)
        recs.tofile(root / name)


def test_batch_layout_is_rgb_planes_to_hwc(tmp_path):
    recs, images = records([3, 7])
    recs.tofile(tmp_path / "b.bin")
    x, y = read_cifar_batch(tmp_path / "b.bin", label_bytes=1)
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    assert y.tolist() == [3, 7] and y.dtype == np.int64
    np.testing.assert_array_equal(x, images)
    assert x[0, 0, 1, 2] == recs[0, 1 + 2 * 1024 + 1]  # blue plane, row 0, column 1


def test_cifar10_dir(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-bin")
    train_x, train_y, test_x, test_y, classes = load_cifar10(tmp_path)  # finds the sub-folder
    assert train_x.shape == (10, 32, 32, 3) and test_x.shape == (2, 32, 32, 3)
    assert train_y.tolist() == [0, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    assert classes[0] == "airplane" and len(classes) == 10


def test_cifar10_names_file(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "batches.meta.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n\n")
    assert load_cifar10(tmp_path)[4] == [f"c{i}" for i in range(10)]
    (tmp_path / "batches.meta.txt").write_text("a\nb\n")
    with pytest.raises(UserError, match="lists 2 classes"):
        load_cifar10(tmp_path)


def test_cifar100_uses_fine_labels(tmp_path):
    train, train_images = records([[1, 42], [19, 99], [0, 0]])
    test, _ = records([[5, 57]], seed=1)
    train.tofile(tmp_path / "train.bin")
    test.tofile(tmp_path / "test.bin")
    train_x, train_y, test_x, test_y, classes = load_cifar100(tmp_path)
    assert train_y.tolist() == [42, 99, 0] and test_y.tolist() == [57]
    np.testing.assert_array_equal(train_x, train_images)
    assert len(classes) == 100 == len(set(CIFAR100_CLASSES)) and classes[99] == "worm"


@pytest.mark.parametrize("extra", [-1, 1, 3072])
def test_bad_length(tmp_path, extra):
    recs, _ = records([1, 2])
    path = tmp_path / "b.bin"
    path.write_bytes(recs.tobytes()[:extra] if extra < 0 else recs.tobytes() + b"\x00" * extra)
    with pytest.raises(UserError, match="multiple of the 3073-byte record") as info:
        read_cifar_batch(path, label_bytes=1)
    assert str(path) in str(info.value)


def test_empty_batch(tmp_path):
    (tmp_path / "b.bin").write_bytes(b"")
    with pytest.raises(UserError):
        read_cifar_batch(tmp_path / "b.bin", label_bytes=2)


def test_cifar100_file_read_as_cifar10_fails_cleanly(tmp_path):
    recs, _ = records([[1, 42]])
    for name in CIFAR10.train_files + CIFAR10.test_files:
        recs.tofile(tmp_path / name)  # 3074-byte records
    with pytest.raises(UserError, match="3073-byte"):
        load_cifar10(tmp_path)


def test_label_out_of_range(tmp_path):
    recs, _ = records([[0, 100]])
    for name in CIFAR100.train_files + CIFAR100.test_files:
        recs.tofile(tmp_path / name)
    with pytest.raises(UserError, match="100 classes"):
        load_cifar100(tmp_path)


def test_missing_files(tmp_path):
    with pytest.raises(UserError, match="data_batch_1.bin"):
        load_cifar10(tmp_path)
