"""One-hot encoding of genomes for the accuracy predictors, bit-for-bit APQ's layout.

    [kernel one-hot, block 0..B-1 | middle-channel one-hot, block 0..B-1 |   <- fp32 part
     pw_w | pw_a | dw_w | dw_a, each block 0..B-1 x bit choices]            <- bit part

Skipped blocks (beyond their stage's depth) are all zeros, so their genes never change the
encoding; depth is read off which blocks are non-zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from apq.space.space import BIT_GENES, SearchSpace


@dataclass(frozen=True)
class HotIndices:
    """The ones of a batch of encodings as indices, without the dense (N, dim) matrix.

    ``fp32_cols`` int64 (N, 2B): the kernel and middle-channel columns of each block (into the fp32
    part); ``bit_cols`` int64 (N, 4B): the pw_w, pw_a, dw_w, dw_a columns, counted from the start
    of the bit part (empty (N, 0) for fp32 encodings). ``fp32_on`` / ``bit_on`` float32, same
    shapes: 1 where the column is set, 0 for skipped blocks. ``dim``: width of the dense encoding.
    """

    fp32_cols: np.ndarray
    fp32_on: np.ndarray
    bit_cols: np.ndarray
    bit_on: np.ndarray
    dim: int


class Encoder:
    """Vectorised one-hot encoder for a space; ``encode`` maps (N, n_genes) -> (N, dim) float32."""

    def __init__(self, space: SearchSpace):
        self.space = space

    @cached_property
    def offsets(self) -> dict[str, np.ndarray]:
        """Start column of each block's one-hot, per gene kind: arrays of shape (B,)."""
        sp, out = self.space, {}
        n_k, n_b = len(sp.kernel_choices), len(sp.bit_choices)
        out["kernel"] = np.arange(sp.n_blocks) * n_k
        mid_sizes = np.asarray([len(m) for m in sp.mid_choices])
        out["mid"] = sp.n_blocks * n_k + np.concatenate([[0], np.cumsum(mid_sizes)[:-1]])
        start = self.fp32_dim
        for gene in BIT_GENES:
            out[gene] = start + np.arange(sp.n_blocks) * n_b
            start += sp.n_blocks * n_b
        return out

    @cached_property
    def fp32_dim(self) -> int:
        """Width of the architecture part (kernel + middle channels)."""
        sp = self.space
        return sp.n_blocks * len(sp.kernel_choices) + sum(len(m) for m in sp.mid_choices)

    @cached_property
    def dim(self) -> int:
        """Width of the full quantization-aware encoding."""
        return self.fp32_dim + len(BIT_GENES) * self.space.n_blocks * len(self.space.bit_choices)

    def hot_columns(self, genomes: np.ndarray, genes=("kernel", "mid") + BIT_GENES) -> np.ndarray:
        """Column of the one of each (candidate, gene kind, block): int64 (N, len(genes), B)."""
        sp = self.space
        return np.stack([self.offsets[g][None, :] + genomes[:, sp.slices[g]] for g in genes], axis=1)

    def encode(self, genomes: np.ndarray, quant: bool = True) -> np.ndarray:
        """One-hot encodings, float32 (N, dim) or (N, fp32_dim) when ``quant`` is False."""
        genomes = np.atleast_2d(np.asarray(genomes, dtype=np.int64))
        genes = ("kernel", "mid") + (BIT_GENES if quant else ())
        cols = self.hot_columns(genomes, genes)
        active = np.broadcast_to(self.space.active_blocks(genomes)[:, None, :], cols.shape)
        rows = np.broadcast_to(np.arange(len(genomes))[:, None, None], cols.shape)
        out = np.zeros((len(genomes), self.dim if quant else self.fp32_dim), dtype=np.float32)
        out[rows[active], cols[active]] = 1.0
        return out

    def hot_indices(self, genomes: np.ndarray, quant: bool = True) -> HotIndices:
        """Where ``encode(genomes, quant)`` holds its ones (see :class:`HotIndices`)."""
        genomes = np.atleast_2d(np.asarray(genomes, dtype=np.int64))
        n = len(genomes)
        cols = self.hot_columns(genomes, ("kernel", "mid") + (BIT_GENES if quant else ()))
        on = np.repeat(self.space.active_blocks(genomes).astype(np.float32)[:, None, :], cols.shape[1], axis=1)
        cols, on = cols.reshape(n, -1), on.reshape(n, -1)
        split = 2 * self.space.n_blocks
        return HotIndices(cols[:, :split], on[:, :split], cols[:, split:] - self.fp32_dim, on[:, split:],
                          self.dim if quant else self.fp32_dim)

    def describe(self) -> dict:
        """Dimensions saved with every artifact that stores encodings."""
        return {"space": self.space.name, "dim": self.dim, "fp32_dim": self.fp32_dim}
