"""Convolution layer shapes as column arrays, the unit every hardware target costs.

A target never sees a network: it sees a batch of conv layers (one row each) with their
bit widths, and returns per-layer latency (ms) and energy (mJ). Network cost is assembled
from these rows by :mod:`apq.hardware.cost`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(frozen=True)
class ConvLayers:
    """L conv layers, one per row; every field is an int64 array of shape (L,).

    ``in_size`` is the input height (= width) in pixels; the output size follows APQ's
    convention ``in_size // stride`` (see :func:`out_size`). A depthwise conv has
    ``groups == cin == cout``; a pointwise conv has ``kernel == 1`` and ``groups == 1``.
    A fully connected layer is a 1x1 conv on a 1x1 input.
    """

    cin: np.ndarray
    cout: np.ndarray
    in_size: np.ndarray
    kernel: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    w_bits: np.ndarray
    a_bits: np.ndarray
    batch: int = 1

    def __post_init__(self) -> None:
        columns = [np.asarray(getattr(self, f.name), dtype=np.int64) for f in fields(self)[:-1]]
        lengths = {c.shape for c in columns}
        if len(lengths) != 1 or len(columns[0].shape) != 1:
            raise ValueError(f"ConvLayers columns must be 1-D and of equal length, got {lengths}")
        for f, col in zip(fields(self)[:-1], columns):
            object.__setattr__(self, f.name, col)
        if self.batch < 1:
            raise ValueError(f"batch must be >= 1, got {self.batch}")

    def __len__(self) -> int:
        return int(self.cin.shape[0])

    @classmethod
    def from_rows(cls, rows: list[tuple[int, ...]], batch: int = 1) -> "ConvLayers":
        """Build from tuples ``(cin, cout, in_size, kernel, stride, groups, w_bits, a_bits)``."""
        cols = np.asarray(rows, dtype=np.int64).reshape(-1, 8).T
        return cls(*cols, batch=batch)

    @property
    def out_size(self) -> np.ndarray:
        """Output height (= width), shape (L,): ``in_size // stride`` as in APQ's tables."""
        return np.maximum(self.in_size // self.stride, 1)

    @property
    def macs(self) -> np.ndarray:
        """Multiply-accumulates per layer for the whole batch, shape (L,), float64."""
        per_out = (self.cin // self.groups) * self.kernel.astype(np.float64) ** 2
        return self.batch * self.cout * self.out_size.astype(np.float64) ** 2 * per_out

    @property
    def weight_count(self) -> np.ndarray:
        """Number of weights per layer, shape (L,), float64."""
        return self.cout * (self.cin // self.groups) * self.kernel.astype(np.float64) ** 2

    @property
    def input_count(self) -> np.ndarray:
        """Input activations per layer (whole batch), shape (L,), float64."""
        return self.batch * self.cin * self.in_size.astype(np.float64) ** 2

    @property
    def output_count(self) -> np.ndarray:
        """Output activations per layer (whole batch), shape (L,), float64."""
        return self.batch * self.cout * self.out_size.astype(np.float64) ** 2

    @property
    def is_depthwise(self) -> np.ndarray:
        """Boolean mask, shape (L,)."""
        return (self.groups > 1) & (self.groups == self.cin)

    @property
    def bitops(self) -> np.ndarray:
        """BitOps = MACs * w_bits * a_bits (docs/architecture.md, Measures), shape (L,)."""
        return self.macs * self.w_bits * self.a_bits
