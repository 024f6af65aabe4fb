"""PyTorch data loaders over in-memory numpy splits (see :mod:`apq.data.splits`)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset


def to_torch_loader(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool,
                    seed: int) -> DataLoader:
    """DataLoader over float32 x (N, C, H, W) and int64 y (N,), batches of ``batch_size``.

    Shares memory with the numpy arrays (no copy). Shuffling uses a generator seeded with
    ``seed``, so each epoch order is reproducible. ``num_workers=0``: data is already in memory.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    tensors = TensorDataset(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                            torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)))
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(tensors, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=0, drop_last=False)
