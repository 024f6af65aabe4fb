"""Network cost of whole populations from per-(space, target) tables.

Network cost = head + tail + sum over active blocks of
    expand-pw(pw_w, pw_a) + depthwise(dw_w, dw_a) + project-pw(pw_w, pw_a),
the same composition as APQ's lookup tables. Each block's options are costed once when the
table is built; evaluating N genomes is then a gather and a sum (no Python loop over genomes).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apq.errors import UserError
from apq.hardware.target import HardwareTarget
from apq.space.genome import Rules
from apq.space.layers import ConvLayers
from apq.space.space import SearchSpace

METRICS = ("latency_ms", "energy_mj", "bitops")


@dataclass(frozen=True)
class Costs:
    """Network costs of N candidates, each float64 (N,). ``energy_mj`` is NaN where unmeasurable."""

    latency_ms: np.ndarray
    energy_mj: np.ndarray
    bitops: np.ndarray

    def metric(self, name: str) -> np.ndarray:
        """One of :data:`METRICS` by name."""
        return getattr(self, name)


def block_option_layers(space: SearchSpace) -> tuple[ConvLayers, ConvLayers, ConvLayers]:
    """Every (block, option, bit pair) layer the space can use: expand, depthwise, project.

    Row order is C-order over (B, M, nb, nb) for the pointwise layers and (B, K, M, nb, nb)
    for the depthwise layer, M = the widest block's middle-channel choice count. Padded
    middle-channel slots repeat the block's last real choice; they are never indexed.
    """
    mids = np.where(space.mid_table > 0, space.mid_table, space.mid_table.max(axis=1, keepdims=True))
    bits = space.bit_choices
    cin = np.asarray([b.cin for b in space.blocks])
    cout = np.asarray([b.cout for b in space.blocks])
    size = np.asarray([b.in_size for b in space.blocks])
    stride = np.asarray([b.stride for b in space.blocks])
    out_size = np.maximum(size // stride, 1)
    # Broadcast grids: block b, kernel k, mid m, weight bits w, activation bits a.
    b, m, w, a = np.meshgrid(np.arange(space.n_blocks), np.arange(mids.shape[1]), bits, bits, indexing="ij")
    mid = mids[b, m]
    one = np.ones_like(mid)
    expand = ConvLayers(cin[b].ravel(), mid.ravel(), size[b].ravel(), one.ravel(), one.ravel(), one.ravel(), w.ravel(), a.ravel())
    project = ConvLayers(mid.ravel(), cout[b].ravel(), out_size[b].ravel(), one.ravel(), one.ravel(), one.ravel(), w.ravel(), a.ravel())
    bk, k, mk, wk, ak = np.meshgrid(np.arange(space.n_blocks), space.kernel_choices, np.arange(mids.shape[1]), bits, bits, indexing="ij")
    mid_k = mids[bk, mk]
    depthwise = ConvLayers(mid_k.ravel(), mid_k.ravel(), size[bk].ravel(), k.ravel(), stride[bk].ravel(), mid_k.ravel(), wk.ravel(), ak.ravel())
    return expand, depthwise, project


def _metric_columns(target: HardwareTarget, layers: ConvLayers) -> np.ndarray:
    """(L, 3) array of latency_ms, energy_mj, bitops."""
    latency, energy = target.layer_cost(layers)
    return np.stack([latency, energy, layers.bitops], axis=1)


class CostTable:
    """Precomputed block-option costs of one (space, target) pair, evaluated over populations."""

    def __init__(self, space: SearchSpace, target: HardwareTarget, strict: bool = True):
        self.space, self.target = space, target
        target.check_bits(space)
        expand, depthwise, project = block_option_layers(space)
        n_b, n_m, n_k = space.n_blocks, space.mid_table.shape[1], len(space.kernel_choices)
        nb = len(space.bit_choices)
        pw = _metric_columns(target, expand) + _metric_columns(target, project)
        self.pointwise = pw.reshape(n_b, n_m, nb, nb, 3)
        self.depthwise = _metric_columns(target, depthwise).reshape(n_b, n_k, n_m, nb, nb, 3)
        head_ms, head_mj, tail_ms, tail_mj = target.fixed_cost(space.head_layers(), space.tail_layers())
        fixed_bitops = float(space.head_layers().bitops.sum() + space.tail_layers().bitops.sum())
        self.fixed = np.asarray([head_ms + tail_ms, head_mj + tail_mj, fixed_bitops])
        if strict:
            self._check_complete()

    def _check_complete(self) -> None:
        """Refuse a table with missing or invalid entries the space's valid genomes can reach."""
        rules = Rules(self.space, self.target.forbidden)
        bad_pw = ~np.isfinite(self.pointwise[..., 0]) | (self.pointwise[..., 0] < 0)
        bad_dw = ~np.isfinite(self.depthwise[..., 0]) | (self.depthwise[..., 0] < 0)
        for rule in rules.compiled:  # forbidden kernel/depthwise-bit combinations may be absent
            if rule.cols_a == self.space.slices["kernel"] and rule.cols_b == self.space.slices["dw_w"]:
                bad_dw[:, rule.index_a, :, rule.index_b, :] = False
            if rule.cols_a == self.space.slices["kernel"] and rule.cols_b == self.space.slices["dw_a"]:
                bad_dw[:, rule.index_a, :, :, rule.index_b] = False
        real = self.space.mid_table > 0
        n_bad = int(bad_pw[real].sum() + bad_dw.transpose(0, 2, 1, 3, 4)[real].sum())
        if n_bad:
            raise UserError(f"target '{self.target.name}' has {n_bad} missing, negative or NaN "
                            f"layer costs for space '{self.space.name}'; complete the LUT or pick another target")

    def evaluate(self, genomes: np.ndarray) -> Costs:
        """Costs of genomes (N, n_genes): latency (ms), energy (mJ), BitOps, each (N,)."""
        sp = self.space
        genomes = np.atleast_2d(genomes)
        g = {name: genomes[:, sp.slices[name]] for name in ("kernel", "mid", "pw_w", "pw_a", "dw_w", "dw_a")}
        blocks = np.arange(sp.n_blocks)[None, :]
        pw_index = np.ravel_multi_index((blocks, g["mid"], g["pw_w"], g["pw_a"]), self.pointwise.shape[:-1])
        dw_index = np.ravel_multi_index((blocks, g["kernel"], g["mid"], g["dw_w"], g["dw_a"]), self.depthwise.shape[:-1])
        # one flat gather per table is several times faster than 4-5 way fancy indexing
        pw = self.pointwise.reshape(-1, 3)[pw_index]
        dw = self.depthwise.reshape(-1, 3)[dw_index]
        per_block = np.where(sp.active_blocks(genomes)[..., None], pw + dw, 0.0)
        total = per_block.sum(axis=1) + self.fixed
        return Costs(total[:, 0], total[:, 1], total[:, 2])

    def describe(self) -> dict:
        """Space and target descriptions, saved next to artifacts costed with this table."""
        return {"space": self.space.name, "target": self.target.describe()}

