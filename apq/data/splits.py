"""Deterministic train / validation / test splits, normalised and laid out for a network.

The validation split is carved out of the official *train* split and is used only to evaluate
sampled sub-nets (accuracy samples for the predictor), never to train the supernet. The
official test split stays separate and is touched only when verifying search winners.
Normalisation statistics come from the remaining train split alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apq.errors import UserError

#: The setting a user changes to pick another validation size (``--set preset.val_size=N``).
VAL_SIZE_KEY = "preset.val_size"
#: ``val_size="auto"`` takes a tenth of the train split, at most this many images: 5000 of
#: Fashion-MNIST's 60000, the size every default figure was measured with.
AUTO_VAL_MAX = 5000


def resolve_val_size(val_size: int | str, n_train: int) -> int:
    """Validation images for a train split of ``n_train``: ``val_size`` itself, or for "auto"
    ``min(5000, n_train // 10)`` (at least 1)."""
    if val_size == "auto":
        return max(1, min(AUTO_VAL_MAX, n_train // 10))
    return val_size


def train_val_split(n_train: int, val_size: int | str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices 0..n_train-1 into (train_idx, val_idx), disjoint, each sorted, int64.

    ``val_size`` (a count, or "auto": :func:`resolve_val_size`) indices are drawn uniformly at
    random with ``np.random.default_rng(seed)``; the same arguments always give the same split.
    Not stratified.
    """
    if n_train < 2:
        raise UserError(f"the train split has {n_train} images; need at least 2 to carve a "
                        "validation split")
    val_size = resolve_val_size(val_size, n_train)
    if not 1 <= val_size < n_train:
        raise UserError(f"validation size {val_size} must be between 1 and {n_train - 1} "
                        f"(the train split has {n_train} images); pass --set {VAL_SIZE_KEY}=N "
                        f"with N in that range, or {VAL_SIZE_KEY}=auto")
    perm = np.random.default_rng(seed).permutation(n_train)
    return np.sort(perm[val_size:]).astype(np.int64), np.sort(perm[:val_size]).astype(np.int64)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 (N, H, W, C) images scaled to [0, 1]: two float32 (C,).

    A constant channel gets std 1 so that normalising never divides by zero.
    """
    if images.dtype != np.uint8:
        raise TypeError(f"channel_stats takes uint8 images, not {images.dtype}")
    levels = np.arange(256, dtype=np.float64)
    mean, std = np.empty(images.shape[-1]), np.empty(images.shape[-1])
    for c in range(images.shape[-1]):  # from the histogram of the 256 values: much faster than ndarray.std
        counts = _histogram_uint8(images[..., c].ravel())
        mean[c] = counts @ levels / counts.sum()
        std[c] = np.sqrt(counts @ (levels - mean[c]) ** 2 / counts.sum())
    mean, std = mean / 255.0, std / 255.0
    std[std == 0] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def _histogram_uint8(values: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Counts (256,) int64 of each value of a uint8 array, in cache-sized chunks (bincount widens to int64)."""
    counts = np.zeros(256, dtype=np.int64)
    for start in range(0, len(values), chunk):
        counts += np.bincount(values[start:start + chunk], minlength=256)
    return counts


def normalize(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W), ``(x / 255 - mean) / std`` per channel."""
    x = images.astype(np.float32) / np.float32(255.0)
    x -= mean
    x /= std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


@dataclass
class DataSplits:
    """Network-ready splits: x float32 (N, C, H, W) normalised, y int64 (N,).

    ``mean``/``std`` (float32 (C,), in [0, 1] pixel units) are those of the train split after
    the validation images were removed; ``val_idx`` indexes the official train split.
    """

    name: str
    classes: list[str]
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    val_idx: np.ndarray
    seed: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """Network input shape (C, H, W)."""
        return tuple(self.train_x.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def make_splits(dataset, val_size: int | str, seed: int) -> DataSplits:
    """Carve ``val_size`` validation images (a count or "auto") from ``dataset``'s train split and normalise all.

    ``dataset`` is an :class:`apq.data.datasets.Dataset`; the result is a :class:`DataSplits`.
    """
    train_idx, val_idx = train_val_split(len(dataset.train_x), val_size, seed)
    train_images = dataset.train_x[train_idx]
    mean, std = channel_stats(train_images)
    return DataSplits(
        name=dataset.name, classes=list(dataset.classes),
        train_x=normalize(train_images, mean, std), train_y=dataset.train_y[train_idx],
        val_x=normalize(dataset.train_x[val_idx], mean, std), val_y=dataset.train_y[val_idx],
        test_x=normalize(dataset.test_x, mean, std), test_y=dataset.test_y.copy(),
        mean=mean, std=std, val_idx=val_idx, seed=seed)
