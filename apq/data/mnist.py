"""The four-file layout shared by MNIST, Fashion-MNIST and KMNIST.

A folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``
and ``t10k-labels-idx1-ubyte``, each raw or gzip-compressed (``.gz``). The spelling with a dot
before ``idx`` (``train-images.idx3-ubyte``, common in re-uploads) is accepted too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from apq.data.idx import load_idx_pair

# role -> canonical file name without ".gz"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _variants(stem: str) -> list[str]:
    dotted = stem.replace("-idx", ".idx")
    return [stem + ".gz", stem, dotted + ".gz", dotted]


def find_idx_file(root: str | os.PathLike, role: str) -> Path | None:
    """Path of the file for ``role`` (a key of ``IDX_FILES``) in ``root``, or None."""
    for name in _variants(IDX_FILES[role]):
        path = Path(root) / name
        if path.is_file():
            return path
    return None


def find_idx_files(root: str | os.PathLike) -> dict[str, Path] | None:
    """All four files of an MNIST-style folder keyed by role, or None if any is missing."""
    files = {role: find_idx_file(root, role) for role in IDX_FILES}
    return None if None in files.values() else files


def resolve_idx_dir(root: Path) -> Path | None:
    """``root`` if it holds the four MNIST-style files, else None (a ``locate.Resolver``)."""
    return root if find_idx_files(root) is not None else None


def describe_idx_files() -> str:
    """Human-readable list of the four expected files, for error messages."""
    return ", ".join(f"{stem}[.gz]" for stem in IDX_FILES.values())


def load_mnist_family(root: str | os.PathLike
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load (train_x, train_y, test_x, test_y) from a folder that holds all four files.

    Images uint8 (N, H, W, 1), labels int64 (N,).
    """
    files = find_idx_files(root)
    if files is None:
        raise FileNotFoundError(f"{root} lacks some of: {describe_idx_files()}")
    train_x, train_y = load_idx_pair(files["train_images"], files["train_labels"])
    test_x, test_y = load_idx_pair(files["test_images"], files["test_labels"])
    return train_x, train_y, test_x, test_y
