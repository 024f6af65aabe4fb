"""APQ's lookup-table key format: ``"(cin, cout, in_size, kernel, stride, padding, groups)-W{w}A{a}"``.

Values are ``{"latency": ms, "energy": mJ}`` at batch 1; two extra keys ``head`` and ``tail``
hold the fixed stem+first-block and final-conv+classifier costs.
"""
from __future__ import annotations

import re

import numpy as np

from apq.errors import UserError
from apq.space.layers import ConvLayers

_KEY = re.compile(r"^\((\d+), ?(\d+), ?(\d+), ?(\d+), ?(\d+), ?(\d+), ?(\d+)\)-W(\d+)A(\d+)$")
FIXED_KEYS = ("head", "tail")


def format_key(cin: int, cout: int, in_size: int, kernel: int, stride: int, groups: int,
               w_bits: int, a_bits: int) -> str:
    """APQ key of one layer; padding is ``kernel // 2`` as in APQ's MobileNetV2 ops."""
    return f"({cin}, {cout}, {in_size}, {kernel}, {stride}, {kernel // 2}, {groups})-W{w_bits}A{a_bits}"


def layer_keys(layers: ConvLayers) -> list[str]:
    """APQ keys of every row of ``layers``, in order."""
    cols = zip(layers.cin, layers.cout, layers.in_size, layers.kernel, layers.stride,
               layers.groups, layers.w_bits, layers.a_bits)
    return [format_key(*(int(v) for v in row)) for row in cols]


def parse_key(key: str) -> tuple[int, int, int, int, int, int, int, int]:
    """Inverse of :func:`format_key`: ``(cin, cout, in_size, kernel, stride, groups, w, a)``.

    Raises :class:`UserError` for a malformed key or a padding that is not ``kernel // 2``.
    """
    m = _KEY.match(key.strip())
    if not m:
        raise UserError(f"malformed APQ LUT key '{key}'; expected '(cin, cout, size, k, s, pad, groups)-W<w>A<a>'")
    cin, cout, size, k, s, pad, groups, w, a = (int(g) for g in m.groups())
    if pad != k // 2:
        raise UserError(f"APQ LUT key '{key}' has padding {pad}, expected kernel//2 = {k // 2}")
    return cin, cout, size, k, s, groups, w, a


def table_to_layers(table: dict) -> tuple[ConvLayers, np.ndarray, np.ndarray]:
    """Split an APQ-format dict into layers and their ``(latency_ms, energy_mj)`` arrays.

    ``head``/``tail`` entries are skipped. Each returned array has shape (L,).
    """
    rows, lat, energy = [], [], []
    for key, value in table.items():
        if key in FIXED_KEYS:
            continue
        rows.append(parse_key(key))
        lat.append(value["latency"])
        energy.append(value["energy"])
    return ConvLayers.from_rows(rows), np.asarray(lat, float), np.asarray(energy, float)
