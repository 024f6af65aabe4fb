"""The tensors sample evaluation needs: training images (BN/range calibration, fine-tunes),
the held-out validation split (sample accuracies) and the test split (verification).

Splits are exactly the supernet's (:func:`apq.data.tensors.load_splits` and
:func:`~apq.data.tensors.training_tensors`, with the preset's ``val_size`` and ``seed``): the
validation images never trained the supernet, and the test split is only touched by ``apq verify``.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from apq.data.tensors import load_splits, training_tensors
from apq.errors import UserError
from apq.presets import Preset
from apq.space.space import SearchSpace
from apq.supernet.config import get_supernet_config

#: Size of the fixed calibration pool drawn from the training split (configs use a prefix of it).
CALIB_POOL = 2000


@dataclass(frozen=True)
class SampleData:
    """float32 (N, C, H, W) normalised images and int64 (N,) labels of each split, on CPU.

    ``calib`` is a fixed, seeded subset of the training images used for BN re-calibration and
    activation range calibration (a prefix of it: the first ``bn_calib_images``).
    """

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    calib: torch.Tensor

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of ``"val"`` or ``"test"``."""
        if name not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', not {name!r}")
        return (self.val_x, self.val_y) if name == "val" else (self.test_x, self.test_y)

    def calibration_set(self, size: int, seed: int) -> torch.Tensor:
        """``size`` training images drawn without replacement with ``seed`` (N, C, H, W)."""
        rng = np.random.default_rng(seed)
        idx = rng.choice(len(self.train_x), min(size, len(self.train_x)), replace=False)
        return self.train_x[torch.from_numpy(np.sort(idx))]

    def with_calib_seed(self, seed: int) -> "SampleData":
        """Same splits, another calibration pool (used to measure evaluation noise)."""
        return replace(self, calib=self.calibration_set(len(self.calib), seed))

    def with_val_subset(self, size: int, seed: int) -> "SampleData":
        """Same data, the validation split cut to a fixed seeded subset of ``size`` images (0 = all)."""
        if not size or size >= len(self.val_x):
            return self
        idx = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(len(self.val_x), size, replace=False)))
        return replace(self, val_x=self.val_x[idx], val_y=self.val_y[idx])


def calibration_seed(base_seed: int, replicate: int = 0) -> int:
    """Seed of the calibration pool (BN re-estimation and activation-range images) shared by every
    sample of replicate ``replicate``; replicate 0 is the samples' own, later ones re-measure them."""
    return base_seed + 1 + 1000 * replicate


def load_sample_data(space: SearchSpace, preset: Preset, data_dir=None, supernet_config=None) -> SampleData:
    """Splits of ``space``'s dataset for ``preset`` as the supernet of that preset saw them.

    ``supernet_config`` (default: the preset's) fixes the training subset (all of it except in
    the smoke preset) and the test subset. Missing or mismatched datasets are a :class:`UserError`.
    """
    config = supernet_config or get_supernet_config(preset.name)
    splits = load_splits(space, preset, data_dir)
    train, (test_x, test_y), _ = training_tensors(splits, preset, config)
    if len(splits.val_x) == 0:
        raise UserError(f"preset '{preset.name}' has an empty validation split; raise val_size")
    data = SampleData(train.x, train.y, torch.from_numpy(splits.val_x), torch.from_numpy(splits.val_y),
                      test_x, test_y, calib=train.x[:0])
    return replace(data, calib=data.calibration_set(CALIB_POOL, calibration_seed(preset.seed)))
