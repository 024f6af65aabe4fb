"""Lookup-table targets: read and write cost tables in this project's format and in APQ's.

This project's format (``"format": "apq-engine-lut"``) stores one row per layer shape and bit
pair with named columns, the fixed ``head``/``tail`` costs and the target's forbidden choices.
APQ's format is a flat dict of ``apq_format`` keys plus ``head`` and ``tail``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from apq.errors import UserError
from apq.hardware import apq_format
from apq.hardware.target import HardwareTarget
from apq.io import write_json
from apq.space.genome import ForbiddenChoice
from apq.space.layers import ConvLayers

FORMAT = "apq-engine-lut"
SHAPE_COLUMNS = ("cin", "cout", "in_size", "kernel", "stride", "groups", "w_bits", "a_bits")
COLUMNS = SHAPE_COLUMNS + ("latency_ms", "energy_mj")


class LutTarget(HardwareTarget):
    """A target whose layer costs are looked up in a table; absent shapes cost NaN."""

    def __init__(self, name: str, entries: dict[tuple, tuple[float, float]], head: tuple[float, float],
                 tail: tuple[float, float], forbidden: tuple[ForbiddenChoice, ...] = (), source: str = ""):
        self.name, self.entries, self.head, self.tail = name, entries, head, tail
        self.forbidden, self.source = tuple(forbidden), source
        self.has_energy = all(math.isfinite(e) for _, e in entries.values())

    def layer_cost(self, layers: ConvLayers) -> tuple[np.ndarray, np.ndarray]:
        cols = [getattr(layers, c) for c in SHAPE_COLUMNS]
        nan = (math.nan, math.nan)
        found = np.asarray([self.entries.get(key, nan) for key in zip(*(c.tolist() for c in cols))], float)
        found = found.reshape(-1, 2)
        return found[:, 0], found[:, 1]

    def fixed_cost(self, head: ConvLayers, tail: ConvLayers) -> tuple[float, float, float, float]:
        return (*self.head, *self.tail)

    def describe(self) -> dict:
        return {"name": self.name, "class": "LutTarget", "source": self.source, "entries": len(self.entries)}


def load_lut_target(path: str | Path, space: str | None = None) -> LutTarget:
    """Load a LUT file in either format, refusing negative, NaN or malformed entries (UserError).

    With ``space`` (a space name), a file in this project's format made for another space is
    refused too; APQ's format names no space, so it is only checked by its entries.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read LUT {path}: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"LUT {path} must be a JSON object")
    if data.get("format") == FORMAT:
        return _from_own_format(path, data, space)
    return _from_apq_format(path, data)


def _cost_pair(path: Path, key: str, value, lat_key: str, energy_key: str, energy_optional=False):
    try:
        lat = float(value[lat_key])
        energy = value.get(energy_key) if energy_optional else value[energy_key]
        energy = math.nan if energy is None else float(energy)
    except (KeyError, TypeError, ValueError):
        raise UserError(f"LUT {path}: entry '{key}' needs numeric '{lat_key}' and '{energy_key}'") from None
    if not math.isfinite(lat) or lat < 0 or (not energy_optional and not math.isfinite(energy)) or energy < 0:
        raise UserError(f"LUT {path}: entry '{key}' has a negative or NaN cost (latency {lat}, energy {energy})")
    return lat, energy


def _from_apq_format(path: Path, data: dict) -> LutTarget:
    fixed = {}
    for name in apq_format.FIXED_KEYS:
        if name not in data:
            raise UserError(f"LUT {path} lacks the '{name}' entry APQ's format requires")
        fixed[name] = _cost_pair(path, name, data[name], "latency", "energy")
    entries = {apq_format.parse_key(k): _cost_pair(path, k, v, "latency", "energy")
               for k, v in data.items() if k not in apq_format.FIXED_KEYS}
    if not entries:
        raise UserError(f"LUT {path} has no layer entries")
    return LutTarget(path.stem, entries, fixed["head"], fixed["tail"], _infer_apq_rules(entries), str(path))


def _infer_apq_rules(entries: dict) -> tuple[ForbiddenChoice, ...]:
    """Rules implied by absent depthwise entries (APQ's tables omit 7x7 at 4-bit activations).

    A depthwise kernel size that never appears with an activation width other kernels have is
    taken as forbidden at that width, since APQ's format has no field to say so.
    """
    depthwise = [(key[3], key[7]) for key in entries if key[5] > 1 and key[5] == key[0]]
    widths = {a for _, a in depthwise}
    rules = []
    for kernel in sorted({k for k, _ in depthwise}):
        for a_bits in sorted(widths - {a for k, a in depthwise if k == kernel}):
            rules.append(ForbiddenChoice("kernel", kernel, "dw_a", a_bits,
                                         f"the LUT has no {kernel}x{kernel} depthwise entry at {a_bits}-bit activations"))
    return tuple(rules)


def _from_own_format(path: Path, data: dict, space: str | None = None) -> LutTarget:
    made_for = data.get("space")
    if space is not None and made_for is not None and made_for != space:
        target = data.get("target", "<target>")
        raise UserError(f"LUT {path} was made for space '{made_for}', not '{space}'; "
                        f"rebuild it with 'apq lut --space {space} --target {target}'")
    if list(data.get("columns", [])) != list(COLUMNS):
        raise UserError(f"LUT {path}: columns must be {list(COLUMNS)}")
    entries = {}
    for i, row in enumerate(data.get("rows", [])):
        if not isinstance(row, list) or len(row) != len(COLUMNS):
            raise UserError(f"LUT {path}: row {i} must list {len(COLUMNS)} values")
        key = tuple(int(v) for v in row[:8])
        entries[key] = _cost_pair(path, f"row {i}", dict(zip(COLUMNS[8:], row[8:])), "latency_ms", "energy_mj", True)
    try:
        forbidden = tuple(ForbiddenChoice(**f) for f in data.get("forbidden", []))
        head = _cost_pair(path, "head", data["head"], "latency_ms", "energy_mj", True)
        tail = _cost_pair(path, "tail", data["tail"], "latency_ms", "energy_mj", True)
    except (KeyError, TypeError) as err:
        raise UserError(f"LUT {path}: missing or malformed head/tail/forbidden ({err})") from None
    return LutTarget(str(data.get("target", path.stem)), entries, head, tail, forbidden, str(path))


def distinct_layers(layers: list[ConvLayers]) -> ConvLayers:
    """The distinct rows of several ConvLayers, sorted, as one ConvLayers."""
    rows = np.concatenate([np.stack([getattr(l, c) for c in SHAPE_COLUMNS], axis=1) for l in layers])
    return ConvLayers(*np.unique(rows, axis=0).T)


def write_lut(path: str | Path, layers: ConvLayers, target: HardwareTarget,
              fixed: tuple[float, float, float, float], space_name: str, fmt: str = "own") -> Path:
    """Cost ``layers`` on ``target`` and write them atomically in ``fmt`` ("own" or "apq").

    Entries the target cannot cost (NaN latency) or forbids are left out, so that loading the
    file back infers the same forbidden choices.
    """
    latency, energy = target.layer_cost(layers)
    keep = np.isfinite(latency) & ~forbidden_rows(layers, target.forbidden)
    head, tail = fixed[:2], fixed[2:]
    if fmt == "apq":
        data = {key: {"latency": float(l), "energy": float(e)}
                for key, l, e, k in zip(apq_format.layer_keys(layers), latency, energy, keep) if k}
        data["head"] = {"latency": head[0], "energy": head[1]}
        data["tail"] = {"latency": tail[0], "energy": tail[1]}
        return write_json(path, data)
    shape_cols = np.stack([getattr(layers, c) for c in SHAPE_COLUMNS], axis=1)[keep].tolist()
    rows = [r + [float(l), _json_float(e)] for r, l, e in zip(shape_cols, latency[keep], energy[keep])]
    return write_json(path, {
        "format": FORMAT, "version": 1, "target": target.name, "space": space_name, "batch": 1,
        "columns": list(COLUMNS), "rows": rows,
        "head": {"latency_ms": head[0], "energy_mj": _json_float(head[1])},
        "tail": {"latency_ms": tail[0], "energy_mj": _json_float(tail[1])},
        "forbidden": [vars(f) for f in target.forbidden],
    })


def forbidden_rows(layers: ConvLayers, forbidden: tuple[ForbiddenChoice, ...]) -> np.ndarray:
    """Boolean (L,): depthwise rows a ``kernel`` x depthwise-bits rule forbids."""
    bits = {"dw_w": layers.w_bits, "dw_a": layers.a_bits}
    mask = np.zeros(len(layers), dtype=bool)
    for rule in forbidden:
        if rule.gene_a == "kernel" and rule.gene_b in bits:
            mask |= layers.is_depthwise & (layers.kernel == rule.value_a) & (bits[rule.gene_b] == rule.value_b)
    return mask


def _json_float(value: float):
    return None if not math.isfinite(value) else float(value)
