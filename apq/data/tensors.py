"""The splits of a space's dataset as every stage sees them, and the torch tensors cut from them.

The one place that turns (space, preset, data folder) into data: the supernet trains on
:func:`training_tensors` of :func:`load_splits`; sample evaluation and verification read the
validation and test splits of the same :func:`load_splits`; export reads its test split. So every
stage sees the same validation split (``preset.val_size``, ``preset.seed``), which never trains
the supernet, and the same normalisation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from apq.data.datasets import DATASETS, load_dataset
from apq.data.splits import DataSplits, make_splits
from apq.errors import UserError
from apq.presets import Preset


@dataclass
class TrainData:
    """In-memory tensors: training images (N, C, H, W) float32 normalised and labels (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor


def load_splits(space, preset: Preset, data_dir) -> DataSplits:
    """The :class:`~apq.data.splits.DataSplits` of ``space``'s dataset (a
    :class:`~apq.space.space.SearchSpace`) for ``preset`` (its validation size and seed);
    :class:`UserError` when the dataset is unknown, missing or of the wrong shape."""
    cfg = space.config
    if cfg.dataset not in DATASETS:
        raise UserError(f"space '{space.name}' trains on '{cfg.dataset}', which this engine cannot load; "
                        f"train supernets for spaces on one of {', '.join(sorted(DATASETS))} (e.g. --space fmnist)")
    dataset = load_dataset(cfg.dataset, data_dir)
    if dataset.input_shape != (cfg.input_channels, cfg.input_size, cfg.input_size):
        raise UserError(f"dataset {cfg.dataset} gives inputs {dataset.input_shape}, space '{space.name}' expects "
                        f"{(cfg.input_channels, cfg.input_size, cfg.input_size)}")
    return make_splits(dataset, preset.val_size, preset.seed)


def training_tensors(splits: DataSplits, preset: Preset, config) -> tuple[TrainData, tuple, torch.Tensor]:
    """(train :class:`TrainData`, test (x, y), BN-calibration images), float32 NCHW CPU tensors cut
    from ``splits``: the subsets a :class:`~apq.supernet.config.SupernetConfig` names
    (``train_subset``, ``test_subset``, ``bn_calib_images``; 0 = all), drawn with ``preset.seed``.

    Train = the official train split minus the validation split; the calibration images are a
    fixed, seeded subset of that train split.
    """
    rng = np.random.default_rng(preset.seed)
    train_idx = _subset(rng, len(splits.train_x), config.train_subset)
    test_idx = _subset(rng, len(splits.test_x), config.test_subset)
    x, y = torch.from_numpy(splits.train_x[train_idx]), torch.from_numpy(splits.train_y[train_idx])
    calib = x[torch.from_numpy(_subset(rng, len(x), config.bn_calib_images))]
    test = (torch.from_numpy(splits.test_x[test_idx]), torch.from_numpy(splits.test_y[test_idx]))
    return TrainData(x, y), test, calib


def _subset(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Sorted random subset of range(n) of ``size`` (all of it when size is 0 or >= n)."""
    return np.arange(n) if not size or size >= n else np.sort(rng.choice(n, size, replace=False))
