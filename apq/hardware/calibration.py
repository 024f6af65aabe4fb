"""Calibration and fit reports of analytic targets against a reference lookup table.

``refit(table)`` reproduces the constants hard-coded in :mod:`apq.hardware.bitfusion`;
``fit_report(target, table)`` measures how well a target reproduces a table. Run

    PYTHONPATH=. .venv/bin/python -m apq.hardware.calibration [TABLE]

(default TABLE: :data:`APQ_BITFUSION_TABLE`, APQ's own W8A8 and W4A4 entries) to print both: the
refitted constants, the in-sample report of the hard-coded model, and the held-out W8A8 -> W4A4
report.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from apq.errors import UserError
from apq.hardware import bitfusion as bf
from apq.hardware.apq_format import table_to_layers
from apq.hardware.target import HardwareTarget
from apq.space.layers import ConvLayers

#: APQ's BitFusion table entries (W8A8 and W4A4), shipped with the package; source and licence
#: in the README beside it.
APQ_BITFUSION_TABLE = Path(__file__).resolve().parent / "reference" / "bitfusion_apq_calibration.json"

#: Depthwise lane counts tried by :func:`refit` (channels per depthwise group at 8 bits).
DW_LANE_CANDIDATES = (1, 2, 4, 8, 16, 32)


def load_reference(path) -> dict:
    """Read an APQ-format reference table (JSON dict); :class:`UserError` if missing/invalid."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"reference table '{p}' not found")
    try:
        table = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"reference table '{p}' is not valid JSON: {exc}") from exc
    if not isinstance(table, dict):
        raise UserError(f"reference table '{p}' must be a JSON object of APQ keys")
    return table


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # Start index of each run of equal values, then the average rank of the run.
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of tie-averaged ranks)."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = np.sqrt((rx * rx).sum() * (ry * ry).sum())
    return float((rx * ry).sum() / denom) if denom > 0 else float("nan")


def _metrics(pred: np.ndarray, ref: np.ndarray) -> dict:
    rel = np.abs(pred - ref) / np.abs(ref)
    return {"spearman": spearman(pred, ref), "median_abs_rel_err": float(np.median(rel)),
            "max_abs_rel_err": float(np.max(rel)), "n": int(ref.size)}


def _pairs(layers: ConvLayers) -> list[tuple[int, int]]:
    return sorted({(int(w), int(a)) for w, a in zip(layers.w_bits, layers.a_bits)}, reverse=True)


def _report(lat_pred, en_pred, layers, lat, energy) -> dict:
    out = {}
    for name, pred, ref in (("latency", lat_pred, lat), ("energy", en_pred, energy)):
        entry = {"all": _metrics(pred, ref)}
        for w, a in _pairs(layers):
            m = (layers.w_bits == w) & (layers.a_bits == a)
            entry[f"W{w}A{a}"] = _metrics(pred[m], ref[m])
        out[name] = entry
    return out


def _subset(layers: ConvLayers, mask: np.ndarray) -> ConvLayers:
    return ConvLayers(layers.cin[mask], layers.cout[mask], layers.in_size[mask],
                      layers.kernel[mask], layers.stride[mask], layers.groups[mask],
                      layers.w_bits[mask], layers.a_bits[mask], batch=layers.batch)


def _fit_dw_lanes(layers: ConvLayers, lat: np.ndarray) -> int:
    """Depthwise lane count minimising the median |log| latency error on depthwise rows."""
    dw = layers.is_depthwise
    if not dw.any():
        return bf.DW_LANES
    sub = _subset(layers, dw)
    errs = []
    for lanes in DW_LANE_CANDIDATES:
        pred = bf.cost_from_stats(bf.layer_stats(sub, dw_lanes=lanes))[0]
        errs.append(np.median(np.abs(np.log(pred / lat[dw]))))
    return int(DW_LANE_CANDIDATES[int(np.argmin(errs))])


def _fit_energy(stats: dict, energy_mj: np.ndarray) -> np.ndarray:
    """Energy coefficients (pJ) minimising the squared relative error, DRAM fixed at 15 pJ/bit.

    Linear least squares on relative residuals (each row divided by its reference energy);
    non-negativity by dropping a coefficient that comes out negative and refitting (an
    active-set NNLS, enough for two unknowns).
    """
    feats = bf.energy_features(stats)
    target_pj = energy_mj * 1e9
    free, fixed = feats[:, :-1], feats[:, -1] * bf.DRAM_PJ_PER_BIT
    active = np.ones(free.shape[1], bool)
    coef = np.zeros(free.shape[1])
    for _ in range(free.shape[1]):
        sol, *_ = np.linalg.lstsq(free[:, active] / target_pj[:, None], 1.0 - fixed / target_pj,
                                  rcond=None)
        coef[:] = 0.0
        coef[active] = sol
        if (sol >= 0).all():
            break
        active[np.flatnonzero(active)[np.argmin(sol)]] = False
    return np.r_[np.maximum(coef, 0.0), bf.DRAM_PJ_PER_BIT]


def refit(table: dict) -> dict:
    """Fit BitFusion's free constants on an APQ-format table; returns them by name.

    Keys ``DW_LANES``, ``CORE_PJ_PER_CYCLE`` and ``BUF_READ_PJ_PER_BIT``, the names of the
    constants in :mod:`apq.hardware.bitfusion`. The latency model has no continuous free
    constant; only the depthwise lane count is chosen, from :data:`DW_LANE_CANDIDATES`.
    """
    layers, lat, energy = table_to_layers(table)
    lanes = _fit_dw_lanes(layers, lat)
    core, read, _ = _fit_energy(bf.layer_stats(layers, dw_lanes=lanes), energy)
    return {"DW_LANES": lanes, "CORE_PJ_PER_CYCLE": float(core), "BUF_READ_PJ_PER_BIT": float(read)}


def coeffs_of(constants: dict) -> tuple[float, float, float]:
    """Energy coefficient tuple (as :data:`bitfusion.ENERGY_COEFFS_PJ`) from :func:`refit` output."""
    return (constants["CORE_PJ_PER_CYCLE"], constants["BUF_READ_PJ_PER_BIT"], bf.DRAM_PJ_PER_BIT)


def _filter(table: dict, pair: str) -> dict:
    return {k: v for k, v in table.items() if k.endswith(f"-{pair}")}


def fit_report(target: HardwareTarget, table: dict) -> dict:
    """How well ``target`` reproduces ``table``.

    ``in_sample``: latency/energy metrics (spearman, median_abs_rel_err, max_abs_rel_err, n)
    over all rows and per bit pair. ``held_out`` (only for the BitFusion target): constants
    refitted on the W8A8 rows alone, then scored on the W4A4 rows.
    """
    layers, lat, energy = table_to_layers(table)
    lat_pred, en_pred = target.layer_cost(layers)
    report = {"in_sample": _report(lat_pred, en_pred, layers, lat, energy)}
    w8, w4 = _filter(table, "W8A8"), _filter(table, "W4A4")
    if isinstance(target, bf.BitFusionTarget) and w8 and w4:
        consts = refit(w8)
        l4, lat4, en4 = table_to_layers(w4)
        lp, ep = bf.zero_extended_cost(l4, consts["DW_LANES"], coeffs_of(consts))
        report["held_out"] = {"fit_on": "W8A8", "constants": consts,
                              **_report(lp, ep, l4, lat4, en4)}
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    path = argv[0] if argv else APQ_BITFUSION_TABLE
    table = load_reference(path)
    print(json.dumps({"refit": refit(table),
                      "report": fit_report(bf.BitFusionTarget(), table)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
