"""Dataset registry: name -> how to find and load it, and the input shape it gives a network.

>>> ds = load_dataset("fashion-mnist", None)          # doctest: +SKIP
>>> ds.train_x.shape, ds.test_x.shape, ds.input_shape  # doctest: +SKIP
((60000, 28, 28, 1), (10000, 28, 28, 1), (1, 28, 28))
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from apq.data import cifar, locate
from apq.data.folder import MODES, load_image_folder
from apq.data.mnist import describe_idx_files, load_mnist_family, resolve_idx_dir
from apq.errors import UserError


@dataclass
class Dataset:
    """Images uint8 (N, H, W, C) and labels int64 (N,) of the official train and test splits."""

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: list[str]
    source: str  # folder the files were read from

    def __post_init__(self):
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.shape != (len(x),):
                raise ValueError(f"{split}_y must be int64 ({len(x)},), got {y.dtype} {y.shape}")
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise UserError(f"{self.source}: {split} labels span {y.min()}..{y.max()} but "
                                f"there are {len(self.classes)} classes; check the dataset files")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise UserError(f"{self.source}: train images are {self.train_x.shape[1:]} but test "
                            f"images are {self.test_x.shape[1:]}; use one dataset for both splits")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Network input shape (C, H, W)."""
        _, h, w, c = self.train_x.shape
        return c, h, w

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass(frozen=True)
class FolderOptions:
    """How images of a class-per-folder dataset are converted: ``size`` x ``size`` pixels."""

    size: int = 28
    mode: str = "L"  # "L" grayscale (C = 1) or "RGB" (C = 3)

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"image mode {self.mode!r} is not supported; "
                            f"use one of {sorted(MODES)}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise UserError(f"image size {self.size!r} must be a positive integer (pixels)")


Loader = Callable[[Path, FolderOptions], tuple]  # -> (train_x, train_y, test_x, test_y, classes)
Finder = Callable[[str | None], Path]            # data_dir or None -> folder that holds the data


@dataclass(frozen=True)
class DatasetSpec:
    """A known dataset kind: where to find it, how to read it, what it feeds a network."""

    name: str
    input_shape: tuple[int, int, int] | None  # (C, H, W); None when the files decide (folder)
    num_classes: int | None
    find: Finder
    load: Loader
    description: str = ""
    classes: tuple[str, ...] = field(default=())  # fixed class names, if the format lacks them


DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Add ``spec`` to the registry under ``spec.name`` (names must be unique)."""
    if spec.name in DATASETS:
        raise ValueError(f"dataset {spec.name!r} registered twice")
    DATASETS[spec.name] = spec
    return spec


def dataset_kinds() -> list[str]:
    """Registered dataset names, sorted (the CLI's choices)."""
    return sorted(DATASETS)


def get_dataset_spec(kind: str) -> DatasetSpec:
    """The registry entry for ``kind``; UserError listing the choices if unknown."""
    if kind not in DATASETS:
        raise UserError(f"unknown dataset {kind!r}; choose one of: {', '.join(dataset_kinds())}")
    return DATASETS[kind]


def load_dataset(kind: str, data_dir: str | os.PathLike | None = None,
                 folder: FolderOptions | None = None) -> Dataset:
    """Find and load dataset ``kind`` from ``data_dir`` (or the default locations).

    ``folder`` sets image size and mode for ``kind="folder"``; other kinds ignore it.
    """
    spec = get_dataset_spec(kind)
    root = spec.find(None if data_dir is None else str(data_dir))
    train_x, train_y, test_x, test_y, classes = spec.load(root, folder or FolderOptions())
    dataset = Dataset(spec.name, train_x, train_y, test_x, test_y, list(classes), str(root))
    if spec.input_shape is not None and dataset.input_shape != spec.input_shape:
        raise UserError(f"{root} holds images of shape (C, H, W) = {dataset.input_shape}, but "
                        f"{kind} has {spec.input_shape}; point the data dir at real {kind} files")
    return dataset


# ---- finders ------------------------------------------------------------------------------

def _idx_finder(name: str) -> Finder:
    def find(data_dir: str | None) -> Path:
        what = f"the {name} files ({describe_idx_files()})"
        found = locate.find_dataset_dir(name, data_dir, resolve_idx_dir, what)
        if found is None:
            raise UserError(f"{name} not found; put {what} in data/{name}/, point "
                            f"{locate.ENV_VAR} at them, or pass the data dir")
        return found
    return find


def _cifar_finder(layout: cifar.CifarLayout) -> Finder:
    def find(data_dir: str | None) -> Path:
        what = f"the {layout.name} binary batches ({layout.subdir}/)"
        found = locate.find_dataset_dir(layout.name, data_dir,
                                        lambda d: cifar.find_cifar_root(d, layout), what)
        if found is None:
            raise UserError(f"{layout.name} not found; extract the official binary archive into "
                            f"data/{layout.name}/, point {locate.ENV_VAR} at it, "
                            "or pass the data dir")
        return found
    return find


def _find_fashion_mnist(data_dir: str | None) -> Path:
    # Imported here so that `python -m apq.data.fetch` does not find itself pre-imported.
    from apq.data.fetch import locate_fashion_mnist
    return locate_fashion_mnist(data_dir)


def _find_folder(data_dir: str | None) -> Path:
    if data_dir is None:
        raise UserError("the folder dataset needs a data dir holding train/<class>/ and "
                        "test/<class>/ image folders; pass it")
    return Path(data_dir).expanduser()


# ---- loaders ------------------------------------------------------------------------------

def _idx_loader(classes: tuple[str, ...]) -> Loader:
    def load(root: Path, _options: FolderOptions) -> tuple:
        return (*load_mnist_family(root), list(classes))
    return load


def _cifar_loader(layout: cifar.CifarLayout) -> Loader:
    return lambda root, _options: cifar.load_cifar(root, layout)


def _load_folder(root: Path, options: FolderOptions) -> tuple:
    return load_image_folder(root, size=options.size, mode=options.mode)


FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
MNIST_CLASSES = tuple(str(d) for d in range(10))
KMNIST_CLASSES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")

register_dataset(DatasetSpec("fashion-mnist", (1, 28, 28), 10,
                             _find_fashion_mnist, _idx_loader(FASHION_CLASSES),
                             "Zalando Fashion-MNIST, IDX files", FASHION_CLASSES))
register_dataset(DatasetSpec("mnist", (1, 28, 28), 10, _idx_finder("mnist"),
                             _idx_loader(MNIST_CLASSES), "MNIST digits, IDX files", MNIST_CLASSES))
register_dataset(DatasetSpec("kmnist", (1, 28, 28), 10, _idx_finder("kmnist"),
                             _idx_loader(KMNIST_CLASSES), "Kuzushiji-MNIST, IDX files",
                             KMNIST_CLASSES))
register_dataset(DatasetSpec("cifar10", (3, 32, 32), 10, _cifar_finder(cifar.CIFAR10),
                             _cifar_loader(cifar.CIFAR10), "CIFAR-10, binary batches",
                             tuple(cifar.CIFAR10_CLASSES)))
register_dataset(DatasetSpec("cifar100", (3, 32, 32), 100, _cifar_finder(cifar.CIFAR100),
                             _cifar_loader(cifar.CIFAR100), "CIFAR-100 fine labels, binary batches",
                             tuple(cifar.CIFAR100_CLASSES)))
register_dataset(DatasetSpec("folder", None, None, _find_folder, _load_folder,
                             "class-per-folder images (root/train/<class>/, root/test/<class>/)"))
