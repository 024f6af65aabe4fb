"""A search space derived from its config: block shapes, gene layout and choice tables.

Genome layout (one row per candidate, int64 choice *indices*, N x n_genes)::

    [depth x S | kernel x B | mid x B | pw_w x B | pw_a x B | dw_w x B | dw_a x B]

S stages, B = sum of max depths blocks. Grouping genes by kind keeps every operator a slice.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from apq.space.config import SpaceConfig
from apq.space.layers import ConvLayers

BLOCK_GENES = ("kernel", "mid", "pw_w", "pw_a", "dw_w", "dw_a")
BIT_GENES = ("pw_w", "pw_a", "dw_w", "dw_a")


@dataclass(frozen=True)
class BlockShape:
    """Fixed geometry of one searchable block (independent of depth, as blocks keep position)."""

    stage: int
    position: int
    cin: int
    cout: int
    in_size: int
    stride: int

    @property
    def out_size(self) -> int:
        return max(self.in_size // self.stride, 1)


class SearchSpace:
    """Derived, read-only view of a :class:`SpaceConfig` used by every numpy operator."""

    def __init__(self, config: SpaceConfig):
        self.config = config
        self.name = config.name
        self.blocks = self._block_shapes()
        self.n_blocks = len(self.blocks)
        self.n_stages = len(config.stages)
        self.kernel_choices = np.asarray(config.kernels, dtype=np.int64)
        self.bit_choices = np.asarray(config.bits, dtype=np.int64)
        self.mid_choices = [self._mid_channels(b.cin) for b in self.blocks]
        self.depth_choices = [np.asarray(s.depths, dtype=np.int64) for s in config.stages]
        self.block_stage = np.asarray([b.stage for b in self.blocks], dtype=np.int64)
        self.block_position = np.asarray([b.position for b in self.blocks], dtype=np.int64)

    # ----- geometry -------------------------------------------------------------------
    def _stem_out_size(self) -> int:
        return max(self.config.input_size // self.config.stem_stride, 1)

    def _block_shapes(self) -> list[BlockShape]:
        cfg = self.config
        size, cin, shapes = self._stem_out_size(), cfg.first_block_width, []
        for s, stage in enumerate(cfg.stages):
            for i in range(max(stage.depths)):
                stride = stage.stride if i == 0 else 1
                shapes.append(BlockShape(s, i, cin, stage.width, size, stride))
                size, cin = max(size // stride, 1), stage.width
        return shapes

    def _mid_channels(self, cin: int) -> np.ndarray:
        cfg = self.config
        low = int(round(cfg.expand_min * cin))
        high = int(round(cfg.expand_max * cin))
        return np.arange(low, high + 1, cfg.channel_step, dtype=np.int64)

    @property
    def final_size(self) -> int:
        """Feature-map size entering the final 1x1 conv."""
        return self.blocks[-1].out_size

    def head_layers(self) -> ConvLayers:
        """Stem conv and first block (depthwise 3x3 + pointwise) at ``fixed_bits``."""
        cfg, b = self.config, self.config.fixed_bits
        after_stem = self._stem_out_size()
        return ConvLayers.from_rows([
            (cfg.input_channels, cfg.stem_width, cfg.input_size, 3, cfg.stem_stride, 1, b, b),
            (cfg.stem_width, cfg.stem_width, after_stem, 3, 1, cfg.stem_width, b, b),
            (cfg.stem_width, cfg.first_block_width, after_stem, 1, 1, 1, b, b),
        ])

    def tail_layers(self) -> ConvLayers:
        """Final 1x1 conv and the classifier (a 1x1 conv on the pooled 1x1 map)."""
        cfg, b = self.config, self.config.fixed_bits
        return ConvLayers.from_rows([
            (cfg.stages[-1].width, cfg.final_width, self.final_size, 1, 1, 1, b, b),
            (cfg.final_width, cfg.num_classes, 1, 1, 1, 1, b, b),
        ])

    # ----- gene layout ----------------------------------------------------------------
    @cached_property
    def slices(self) -> dict[str, slice]:
        """Genome column range of each gene kind: ``depth`` (S columns) and each of BLOCK_GENES (B)."""
        out, start = {"depth": slice(0, self.n_stages)}, self.n_stages
        for gene in BLOCK_GENES:
            out[gene] = slice(start, start + self.n_blocks)
            start += self.n_blocks
        return out

    @property
    def n_genes(self) -> int:
        return self.n_stages + len(BLOCK_GENES) * self.n_blocks

    @cached_property
    def cardinality(self) -> np.ndarray:
        """Number of choices of each gene, shape (n_genes,)."""
        card = np.empty(self.n_genes, dtype=np.int64)
        card[self.slices["depth"]] = [len(d) for d in self.depth_choices]
        card[self.slices["kernel"]] = len(self.kernel_choices)
        card[self.slices["mid"]] = [len(m) for m in self.mid_choices]
        for gene in BIT_GENES:
            card[self.slices[gene]] = len(self.bit_choices)
        return card

    @cached_property
    def mid_table(self) -> np.ndarray:
        """Middle-channel counts, shape (B, max choices), zero-padded."""
        table = np.zeros((self.n_blocks, int(max(len(m) for m in self.mid_choices))), dtype=np.int64)
        for b, choices in enumerate(self.mid_choices):
            table[b, : len(choices)] = choices
        return table

    @cached_property
    def depth_table(self) -> np.ndarray:
        """Depth values, shape (S, max choices), zero-padded."""
        table = np.zeros((self.n_stages, int(max(len(d) for d in self.depth_choices))), dtype=np.int64)
        for s, choices in enumerate(self.depth_choices):
            table[s, : len(choices)] = choices
        return table

    def values(self, genomes: np.ndarray, gene: str) -> np.ndarray:
        """Choice *values* of one gene kind: (N, S) depths or (N, B) kernels/channels/bits."""
        idx = np.asarray(genomes)[:, self.slices[gene]]
        if gene == "depth":
            return self.depth_table[np.arange(self.n_stages), idx]
        if gene == "mid":
            return self.mid_table[np.arange(self.n_blocks), idx]
        if gene == "kernel":
            return self.kernel_choices[idx]
        return self.bit_choices[idx]

    def active_blocks(self, genomes: np.ndarray) -> np.ndarray:
        """Boolean (N, B): block b is kept when its position in its stage is below the depth."""
        depth = self.values(genomes, "depth")
        return self.block_position[None, :] < depth[:, self.block_stage]

    def canonical(self, genomes: np.ndarray) -> np.ndarray:
        """``genomes`` (N, n_genes) with every gene of a dropped block set to 0: two genomes build the
        same sub-net exactly when their canonical forms are equal (a dropped block's kernel, channels
        and bits are never used)."""
        out = np.array(genomes, dtype=np.int64, copy=True)
        dropped = ~self.active_blocks(out)
        for gene in BLOCK_GENES:
            out[:, self.slices[gene]][dropped] = 0
        return out

    def describe(self) -> dict:
        """Resolved config plus derived sizes, saved next to every artifact."""
        return {"name": self.name, "config": self.config.to_dict(), "n_genes": self.n_genes,
                "n_blocks": self.n_blocks}

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, blocks={self.n_blocks}, genes={self.n_genes})"
