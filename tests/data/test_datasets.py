from pathlib import Path

import numpy as np
import pytest

from apq.data import cifar
from apq.data.datasets import (DATASETS, Dataset, FolderOptions, dataset_kinds, get_dataset_spec,
                               load_dataset)
from apq.errors import UserError

from tests.helpers.datasets import write_mnist_dir

FASHION = Path("/usr/share/datasets/fashion-mnist")


def test_registry_kinds_and_shapes():
    assert {"fashion-mnist", "mnist", "cifar10", "cifar100", "folder"} <= set(dataset_kinds())
    assert get_dataset_spec("fashion-mnist").input_shape == (1, 28, 28)
    assert get_dataset_spec("cifar100").num_classes == 100
    for spec in DATASETS.values():
        if spec.classes:
            assert len(spec.classes) == spec.num_classes


def test_unknown_kind_lists_choices():
    with pytest.raises(UserError, match="unknown dataset 'imagenet'.*cifar10.*fashion-mnist"):
        load_dataset("imagenet", None)


@pytest.mark.parametrize("kind", ["mnist", "kmnist", "fashion-mnist"])
def test_mnist_family_from_data_dir(kind, mnist_dir):
    ds = load_dataset(kind, mnist_dir)
    assert ds.name == kind and ds.source == str(mnist_dir)
    assert ds.train_x.shape == (6, 28, 28, 1) and ds.test_y.shape == (4,)
    assert ds.input_shape == (1, 28, 28) and ds.num_classes == 10


def test_mnist_found_through_env(isolated, tmp_path, monkeypatch):
    write_mnist_dir(tmp_path / "datasets" / "mnist", gzip=False)
    monkeypatch.setenv("APQ_DATA_DIR", str(tmp_path / "datasets"))
    assert load_dataset("mnist").source == str(tmp_path / "datasets" / "mnist")


def test_missing_dataset_says_how(isolated):
    with pytest.raises(UserError, match="mnist not found; put"):
        load_dataset("mnist", None)
    with pytest.raises(UserError, match="cifar10 not found"):
        load_dataset("cifar10", None)
    with pytest.raises(UserError, match="needs a data dir"):
        load_dataset("folder", None)


def test_wrong_image_shape_for_kind(tmp_path):
    write_mnist_dir(tmp_path, size=14)
    with pytest.raises(UserError, match=r"\(1, 14, 14\).*\(1, 28, 28\)"):
        load_dataset("mnist", tmp_path)


def test_label_beyond_classes(tmp_path):
    x = np.zeros((2, 4, 4, 1), np.uint8)
    with pytest.raises(UserError, match="labels span"):
        Dataset("t", x, np.array([0, 5]), x, np.array([0, 1]), ["a", "b"], "src")


def test_cifar10_through_registry(tmp_path):
    rec = np.zeros((1, 3073), np.uint8)
    for name in cifar.CIFAR10.train_files + cifar.CIFAR10.test_files:
        rec.tofile(tmp_path / name)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.input_shape == (3, 32, 32) and ds.train_x.shape == (5, 32, 32, 3)


def test_folder_through_registry(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for split in ("train", "test"):
        for cls in ("b", "a"):
            (tmp_path / split / cls).mkdir(parents=True)
            image.new("L", (9, 9), 7).save(tmp_path / split / cls / "0.png")
    ds = load_dataset("folder", tmp_path, FolderOptions(size=12, mode="RGB"))
    assert ds.classes == ["a", "b"] and ds.input_shape == (3, 12, 12)
    with pytest.raises(UserError):
        FolderOptions(mode="P")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Fashion-MNIST not installed")
def test_real_fashion_mnist():
    ds = load_dataset("fashion-mnist", FASHION)
    assert ds.train_x.shape == (60000, 28, 28, 1) and ds.test_x.shape == (10000, 28, 28, 1)
    assert ds.train_y.dtype == np.int64 and np.bincount(ds.train_y).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top"
