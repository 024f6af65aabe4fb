"""Tiny MNIST-style IDX folders written by tests."""
from pathlib import Path

import numpy as np

from apq.data.idx import write_idx
from apq.data.mnist import IDX_FILES


def write_mnist_dir(root: Path, n_train: int = 6, n_test: int = 4, size: int = 28,
                    gzip: bool = True, seed: int = 0) -> dict:
    """Write the four IDX files into ``root``; return the arrays written (labels in 0..9)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for role, stem in IDX_FILES.items():
        write_idx(root / (stem + (".gz" if gzip else "")), arrays[role], gzip=gzip)
    return arrays
