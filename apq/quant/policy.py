"""Bit policy of a genome and the per-layer quantization plan of an extracted sub-net.

APQ's convention (and the cost model's, see :mod:`apq.hardware.cost`): in searchable block b
the expand and project 1x1 convs use ``pw_w[b]`` / ``pw_a[b]`` bits for weights / input
activations, the depthwise conv ``dw_w[b]`` / ``dw_a[b]``. The stem, the first block, the final
1x1 conv and the classifier stay at the space's ``fixed_bits`` (8, as in APQ).

Signedness of an input activation follows from what produces it: a ReLU6 output is >= 0
(unsigned grid), anything else (the normalised image, a block output, which is a linear
projection plus possibly a residual sum) can be negative (signed grid).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apq.space.space import BIT_GENES, SearchSpace


@dataclass(frozen=True)
class LayerQuant:
    """Quantization of one conv/linear of a sub-net: module path, weight bits, input bits, signedness."""

    name: str
    weight_bits: int
    act_bits: int
    signed: bool


def bit_policy(space: SearchSpace, genome: np.ndarray) -> dict:
    """Bits of the sub-net of ``genome`` (n_genes,): JSON-ready dict.

    ``{"fixed_bits": 8, "blocks": [{"block": b, "pw_w": .., "pw_a": .., "dw_w": .., "dw_a": ..}, ...]}``
    with one entry per *active* block (supernet block index b, in order).
    """
    row = np.asarray(genome, dtype=np.int64)[None, :]
    bits = {gene: space.values(row, gene)[0] for gene in BIT_GENES}
    active = np.flatnonzero(space.active_blocks(row)[0])
    blocks = [{"block": int(b), **{gene: int(bits[gene][b]) for gene in BIT_GENES}} for b in active]
    return {"fixed_bits": int(space.config.fixed_bits), "blocks": blocks}


def layer_plan(block_ids: list[int], policy: dict) -> list[LayerQuant]:
    """Per-layer plan of a :class:`apq.supernet.network.SubNet` that kept supernet blocks ``block_ids``.

    Module paths are those of the SubNet (``blocks.<j>.expand.0`` is the conv of its j-th block).
    """
    fixed = policy["fixed_bits"]
    by_block = {entry["block"]: entry for entry in policy["blocks"]}
    plan = [LayerQuant("stem.0", fixed, fixed, signed=True),  # normalised image
            LayerQuant("first.depthwise.0", fixed, fixed, signed=False),
            LayerQuant("first.project.0", fixed, fixed, signed=False)]
    for j, block in enumerate(block_ids):
        bits = by_block[block]
        plan += [LayerQuant(f"blocks.{j}.expand.0", bits["pw_w"], bits["pw_a"], signed=True),  # block output
                 LayerQuant(f"blocks.{j}.depthwise.0", bits["dw_w"], bits["dw_a"], signed=False),
                 LayerQuant(f"blocks.{j}.project.0", bits["pw_w"], bits["pw_a"], signed=False)]
    return plan + [LayerQuant("tail.final.0", fixed, fixed, signed=True),  # last block output
                   LayerQuant("tail.classifier", fixed, fixed, signed=False)]  # pooled ReLU6 output
