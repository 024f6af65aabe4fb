"""Readable specs (APQ's key names, JSON-serialisable) and compact genome strings for logs."""
from __future__ import annotations

import numpy as np

from apq.errors import UserError
from apq.space.space import SearchSpace

#: Spec key -> gene kind. Key names follow APQ/once-for-all so their users recognise them.
SPEC_KEYS = {
    "ks": "kernel", "mid_channels": "mid", "d": "depth",
    "pw_w_bits_setting": "pw_w", "pw_a_bits_setting": "pw_a",
    "dw_w_bits_setting": "dw_w", "dw_a_bits_setting": "dw_a",
}


def decode(space: SearchSpace, genome: np.ndarray) -> dict:
    """Readable spec of one genome (n_genes,): per-block lists of length B, ``d`` of length S.

    ``e`` (middle / input channels, APQ's expand ratio) is derived, for reading only.
    Entries of skipped blocks are kept so that :func:`encode_spec` round-trips exactly.
    """
    genome = np.asarray(genome, dtype=np.int64)[None, :]
    spec = {key: space.values(genome, gene)[0].tolist() for key, gene in SPEC_KEYS.items()}
    spec["e"] = [m / b.cin for m, b in zip(spec["mid_channels"], space.blocks)]
    spec["space"] = space.name
    return spec


def encode_spec(space: SearchSpace, spec: dict) -> np.ndarray:
    """Inverse of :func:`decode`: the genome (n_genes,) int64 of a spec.

    Raises :class:`UserError` if a list has the wrong length or holds a value the space lacks.
    """
    if spec.get("space", space.name) != space.name:
        raise UserError(f"spec is for space '{spec['space']}', not '{space.name}'")
    genome = np.empty(space.n_genes, dtype=np.int64)
    for key, gene in SPEC_KEYS.items():
        if key not in spec:
            raise UserError(f"spec lacks '{key}'")
        cols = space.slices[gene]
        values = list(spec[key])
        if len(values) != cols.stop - cols.start:
            raise UserError(f"spec '{key}' has {len(values)} entries, space '{space.name}' needs {cols.stop - cols.start}")
        for j, value in enumerate(values):
            genome[cols.start + j] = _choice_index(_choices(space, gene, j), value, key, j)
    return genome


def _choices(space: SearchSpace, gene: str, j: int) -> np.ndarray:
    if gene == "depth":
        return space.depth_choices[j]
    if gene == "mid":
        return space.mid_choices[j]
    return space.kernel_choices if gene == "kernel" else space.bit_choices


def _choice_index(choices: np.ndarray, value, key: str, j: int) -> int:
    hits = np.flatnonzero(choices == value)
    if not hits.size:
        raise UserError(f"spec '{key}'[{j}] = {value} is not one of {choices.tolist()}")
    return int(hits[0])


def genome_string(space: SearchSpace, genome: np.ndarray) -> str:
    """Compact one-line form of the active blocks, stages separated by ``|``.

    A block reads ``k5m96p48d66``: kernel 5, 96 middle channels, pointwise W4A8, depthwise W6A6.
    """
    spec = decode(space, genome)
    stages: list[list[str]] = [[] for _ in range(space.n_stages)]
    for b, shape in enumerate(space.blocks):
        if shape.position < spec["d"][shape.stage]:
            stages[shape.stage].append(
                f"k{spec['ks'][b]}m{spec['mid_channels'][b]}"
                f"p{spec['pw_w_bits_setting'][b]}{spec['pw_a_bits_setting'][b]}"
                f"d{spec['dw_w_bits_setting'][b]}{spec['dw_a_bits_setting'][b]}")
    return " | ".join(" ".join(s) for s in stages)
