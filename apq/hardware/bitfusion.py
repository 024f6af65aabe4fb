"""Analytic, vectorised cost model of the BitFusion accelerator.

Sharma et al., "Bit Fusion: Bit-Level Dynamically Composable Architecture for Accelerating
Deep Neural Networks", ISCA 2018 (below: [BF]). The evaluated configuration ([BF]
methodology section; the same numbers are in ``bf_e_conf.ini`` of the authors' public
simulator, github.com/hsharma35/bitfusion, below [BF-sim]):
a 16 x 32 systolic array of Fusion Units, each built from sixteen 2-bit BitBricks, at 500 MHz,
with 64 KB weight, 32 KB input and 16 KB output buffers and a 192-bit DRAM interface.

Model, per conv layer (numpy over all rows at once; the only Python loops run over a fixed
set of candidate tilings and loop orders, never over layers):

* **Compute.** A Fusion Unit performs one 8x8-bit MAC per cycle, or ``perf_factor(w, a) =
  int(8/max(a,2)) * int(8/max(w,2))`` narrower MACs ([BF] fusion-unit design; 6-bit operands occupy an
  8-bit fusion, so 6-bit runs at 8-bit speed). Array rows take input channels (16 * pf per
  cycle), columns take output channels (32 per cycle), one output pixel and kernel tap per
  cycle: ``cycles = ceil(oc/32) * pixels * k^2 * ceil(ic/(16*pf))`` per tile.
* **Tiling / memory.** The layer is tiled over output pixels (square tiles), input and output
  channels, each a power of two (as in the authors' loop-tiling optimiser). Each operand's
  tile must fit in half its buffer (double buffering). For each candidate tiling and loop
  order, an operand stays resident across outer loops it does not depend on as long as the
  accumulated chunk fits in its half buffer; otherwise it is re-fetched. Weights move at
  ``w`` bits, inputs at ``a`` bits, outputs as 32-bit partial sums read from and written back
  to DRAM. DRAM traffic streams at 192 bits/cycle overlapped with compute, except the first
  resident chunk (loaded before compute starts) and the last output chunk (written after):
  ``cycles = max(compute, streamed/192) + first_load/192 + last_store/192``. The tiling with
  the fewest cycles wins.
* **Depthwise.** Modelled as ``ceil(C / g)`` independent dense groups of
  ``g = min(DW_LANES * pf, 32)`` channels (block-diagonal mapping of a depthwise conv onto the
  array), each costed like a dense conv and run back to back, so short groups pay their
  memory latency without overlap. ``DW_LANES`` is calibrated (see below); the structure was
  read off APQ's table (W8A8 depthwise runs at 8 channels per cycle-tap with compute steps
  every 8 channels, W4A4 at 32 with steps every 32, and 7x7-output layers show compute and
  memory adding up rather than overlapping).
* **Energy.** ``core energy per compute cycle`` (the array switches every compute cycle,
  whatever the fusion mode) + per-bit weight/input buffer reads (output-stationary inner
  loop: every MAC reads one w-bit weight and one a-bit input) + DRAM traffic at 15 pJ/bit.
  Core and buffer-read energies are calibrated; DRAM is fixed. (A separate output-buffer
  and buffer-fill energy per bit were tried and fitted to <= 0, so they are not modelled.)
* **Zero extension.** The greedy tiling above can make, e.g., 7-bit activations a few percent
  cheaper than 6-bit ones. Since a narrow operand can always be zero-extended to a wider
  supported precision, the reported cost of ``(w, a)`` is the minimum of the model over
  ``w' >= w, a' >= a`` (up to 8 bits), which makes latency and energy non-decreasing in
  each bit width. Widths outside 1..8 are refused.

Fit to APQ's table (W8A8 + W4A4, 1410 entries): latency reproduces to the cycle for most
entries (median abs error 0 %); energy median abs error ~4-5 %. Held out (fitted on W8A8
only, scored on W4A4): latency Spearman 1.000 / median 0 %, energy 0.998 / 5.5 %.

Calibration: the constants marked "calibrated" were fitted with
``PYTHONPATH=. python -m apq.hardware.calibration`` (function
:func:`apq.hardware.calibration.refit`) on APQ's BitFusion table entries for W8A8 and W4A4
(``apq/hardware/reference/``); they are hard-coded here, never fitted at import time.
"""
from __future__ import annotations

import itertools

import numpy as np

from apq.errors import UserError
from apq.hardware.target import HardwareTarget, register_target
from apq.space.genome import ForbiddenChoice
from apq.space.layers import ConvLayers

# ---------------------------------------------------------------------------------------------
# Architecture ([BF] methodology: evaluated accelerator configuration; [BF-sim] bf_e_conf.ini).
FREQ_HZ = 500e6  # [BF] methodology / [BF-sim] frequency = 500000000: 500 MHz clock.
ARRAY_ROWS = 16  # [BF] / [BF-sim] a = 16: 16 x 32 Fusion Units; rows consume input channels.
ARRAY_COLS = 32  # [BF] / [BF-sim] c = 32: 32 columns produce output channels.
MAX_BITS = 8  # [BF] fusion-unit design: a Fusion Unit fuses its 16 BitBricks into one 8x8-bit multiplier.
MIN_BITS = 2  # [BF] BitBrick design: BitBricks are 2-bit; narrower operands still occupy one brick.
WBUF_BITS = 64 * 1024 * 8  # [BF] / [BF-sim] Wgt_SRAM: 64 KB weight buffer.
IBUF_BITS = 32 * 1024 * 8  # [BF] / [BF-sim] Act_SRAM: 32 KB input buffer.
OBUF_BITS = 16 * 1024 * 8  # [BF] / [BF-sim] Out_SRAM: 16 KB output buffer.
DOUBLE_BUFFER = 2  # [BF-sim] buffers are double-buffered, so a tile may use half of one.
DRAM_BITS_PER_CYCLE = 192  # bf_e_conf.ini (if_width = 192): DRAM interface width per cycle.
PSUM_BITS = 32  # [BF-sim]: outputs are kept and spilled as 32-bit partial sums; fits the
#                 table exactly (memory-bound rows match to the cycle with 2 x 32 bits/output).
DRAM_PJ_PER_BIT = 15.0  # [BF-sim] energy model default: DRAM access 15 pJ per bit.

# ---------------------------------------------------------------------------------------------
# Calibrated on APQ's BitFusion table (W8A8 + W4A4, 1410 entries); reproduce with
#   PYTHONPATH=. .venv/bin/python -m apq.hardware.calibration
DW_LANES = 8  # calibrated on APQ W8A8/W4A4 table: depthwise channels per group at 8 bits.
CORE_PJ_PER_CYCLE = 1036.41  # calibrated on APQ W8A8/W4A4 table: array dynamic energy per compute cycle.
BUF_READ_PJ_PER_BIT = 0.032163  # calibrated on APQ W8A8/W4A4 table: weight/input buffer read energy per bit.

#: Energy coefficients in the order of the feature columns of :func:`energy_features`.
ENERGY_COEFFS_PJ = (CORE_PJ_PER_CYCLE, BUF_READ_PJ_PER_BIT, DRAM_PJ_PER_BIT)

# Candidate tile sizes (powers of two, capped at the dimension), as in the authors'
# exhaustive tiling optimiser: output-pixel tile side, input-channel tile, output-channel
# tile in multiples of the array width.
# Upper bounds on the number of sizes tried; beyond them the largest tile is capped, which
# only matters for layers far larger than ImageNet MobileNets.
_MAX_LOG2_SPATIAL = 10  # tiles up to 512 px side.
_MAX_LOG2_CHANNELS = 14  # input-channel tiles up to 8192.
_MAX_LOG2_OC_BLOCKS = 9  # output-channel tiles up to 256 * 32 = 8192.

_CHUNK_ROWS = 256  # rows per vectorised batch (bounds memory: rows x tilings x float64).

# Loop orders (outer -> inner) over the four tiled loops; the two spatial loops are identical,
# so orders differing only by swapping them are the same: 12 distinct orders.
_LOOPS = ("S", "S", "IC", "OC")
_ORDERS = sorted(set(itertools.permutations(_LOOPS)))
# Which operand (weights, inputs, outputs) each loop indexes.
_DEPENDS = {"S": (False, True, True), "IC": (True, True, False), "OC": (True, False, True)}


def perf_factor(w_bits: np.ndarray, a_bits: np.ndarray) -> np.ndarray:
    """MACs per Fusion Unit per cycle relative to 8x8 bits ([BF] fusion rule)."""
    a = np.maximum(np.asarray(a_bits), MIN_BITS)
    w = np.maximum(np.asarray(w_bits), MIN_BITS)
    return (MAX_BITS // a) * (MAX_BITS // w)


def _cdiv(a, b):
    return -(-a // b)


def _log2_span(x) -> int:
    """Number of power-of-two tile sizes needed to reach ``max(x)``: ceil(log2(max)) + 1."""
    return int(np.ceil(np.log2(max(int(np.max(x)), 1)))) + 1


def _dense_conv(ic, oc, out, k, s, w, a, batch):
    """Best-tiling cost of dense convs (groups=1), rows vectorised.

    Returns a dict of float64 arrays (L,): ``cycles`` (total), ``compute`` (compute cycles),
    ``dram`` (bits moved to/from DRAM) and ``bufread`` (weight + input buffer bits read by the
    array: output-stationary inner loop, one w-bit weight and one a-bit input per MAC).
    """
    col = lambda x: np.asarray(x, dtype=np.int64)[:, None]  # noqa: E731
    ic, oc, out, k, s, w, a = (col(x) for x in (ic, oc, out, k, s, w, a))
    pf = perf_factor(w, a)
    # Only tile sizes up to the largest dimension present (larger ones equal the capped one).
    spans = (min(_MAX_LOG2_SPATIAL, _log2_span(out)), min(_MAX_LOG2_CHANNELS, _log2_span(ic)),
             min(_MAX_LOG2_OC_BLOCKS, _log2_span(_cdiv(oc, ARRAY_COLS))))
    grid = np.array(list(itertools.product(*(range(n) for n in spans)))).T
    so = np.minimum(1 << grid[0][None, :], out)  # output tile side (px)
    tic = np.minimum(1 << grid[1][None, :], ic)  # input-channel tile
    toc = np.minimum(ARRAY_COLS << grid[2][None, :], oc)  # output-channel tile
    n_s, n_ic, n_oc = _cdiv(out, so), _cdiv(ic, tic), _cdiv(oc, toc)
    side_in = k + (so - 1) * s  # input tile side incl. halo

    tile = [(k * k * tic * toc * w).astype(float),  # weights at w bits
            (side_in * side_in * tic * a).astype(float),  # inputs at a bits
            (so * so * toc * PSUM_BITS).astype(float)]  # outputs as 32-bit partial sums
    halves = (WBUF_BITS / DOUBLE_BUFFER, IBUF_BITS / DOUBLE_BUFFER, OBUF_BITS / DOUBLE_BUFFER)
    feasible = (tile[0] <= halves[0]) & (tile[1] <= halves[1]) & (tile[2] <= halves[2])

    n_tiles = (n_s * n_s * n_ic * n_oc).astype(float)
    compute = n_tiles * (_cdiv(toc, ARRAY_COLS) * so * so * k * k * _cdiv(tic, ARRAY_ROWS * pf))
    counts = {"S": n_s.astype(float), "IC": n_ic.astype(float), "OC": n_oc.astype(float)}

    best = None
    for order in _ORDERS:
        size = [t.copy() for t in tile]
        first = [t.copy() for t in tile]  # largest chunk resident in the buffer
        resident = [np.ones(so.shape, bool) for _ in range(3)]
        for loop in reversed(order):  # innermost loop first
            n = counts[loop]
            for op in range(3):
                if _DEPENDS[loop][op]:
                    size[op] = size[op] * n
                    fits = resident[op] & (size[op] <= halves[op])
                    first[op] = np.where(fits, size[op], first[op])
                    resident[op] = fits
                else:  # reused across this loop if still resident, else re-fetched
                    size[op] = np.where(resident[op], size[op], size[op] * n)
        # Batch: outermost; inputs and outputs scale with it, weights only if not resident.
        w_bits_moved = np.where(resident[0], size[0], size[0] * batch)
        i_bits_moved, o_bits_moved = size[1] * batch, size[2] * batch
        dram = w_bits_moved + i_bits_moved + 2.0 * o_bits_moved  # psums read and written
        first_load = first[0] + first[1] + first[2]
        last_store = first[2]
        streamed = dram - first_load - last_store
        cycles = (np.maximum(compute * batch, np.ceil(streamed / DRAM_BITS_PER_CYCLE))
                  + np.ceil(first_load / DRAM_BITS_PER_CYCLE)
                  + np.ceil(last_store / DRAM_BITS_PER_CYCLE))
        cycles = np.where(feasible, cycles, np.inf)
        # Fewest cycles; ties broken by a nominal energy (as the authors' optimiser does),
        # weighted with fixed round numbers (1 nJ per compute cycle, 15 pJ per DRAM bit) so the
        # choice does not depend on the calibrated constants. Scaled to stay below 1 cycle.
        score = cycles + (compute * batch * 1000.0 + dram * DRAM_PJ_PER_BIT) * 1e-13
        if best is None:
            best, best_dram = score, dram
        else:
            better = score < best
            best = np.where(better, score, best)
            best_dram = np.where(better, dram, best_dram)
    pick = np.argmin(best, axis=1)
    rows = np.arange(best.shape[0])
    take = lambda x: np.broadcast_to(x, best.shape)[rows, pick].astype(float)  # noqa: E731
    cycles = np.floor(take(best))
    macs_t = take(n_tiles * so * so * k * k * tic * toc) * batch
    return {
        "cycles": cycles,
        "compute": take(compute) * batch,
        "dram": take(best_dram),
        "bufread": macs_t * take(np.broadcast_to(w + a, best.shape)),
    }


def _unique_rows(layers: ConvLayers):
    cols = np.stack([layers.cin, layers.cout, layers.in_size, layers.kernel, layers.stride,
                     layers.groups, layers.w_bits, layers.a_bits], axis=1)
    uniq, inverse = np.unique(cols, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def layer_stats(layers: ConvLayers, dw_lanes: int = DW_LANES) -> dict:
    """Per-layer cycle and access counts (dict of float64 arrays of shape (L,)).

    Identical rows are costed once. Depthwise rows become ``ceil(C / g)`` dense groups of
    ``g = min(dw_lanes*pf, 32)`` channels each; other grouped convs become ``groups`` dense
    convs of ``cin/groups -> cout/groups`` channels.
    """
    if len(layers) == 0:
        keys = ("cycles", "compute", "dram", "bufread")
        return {k: np.zeros(0) for k in keys}
    uniq, inverse = _unique_rows(layers)
    cin, cout, size, k, s, groups, w, a = uniq.T
    out = np.maximum(size // s, 1)
    pf = perf_factor(w, a)
    depthwise = (groups > 1) & (groups == cin)
    # A group wider than the array's 32 columns gains no throughput (output channels map to
    # columns), so groups are capped there; this only binds below 4-bit (pf > 4).
    lanes = np.minimum(dw_lanes * pf, ARRAY_COLS)
    g_ic = np.where(depthwise, np.minimum(lanes, cin), cin // groups)
    g_oc = np.where(depthwise, np.minimum(lanes, cout), cout // groups)
    n_groups = np.where(depthwise, _cdiv(cin, lanes), groups).astype(float)
    # Rows are costed in chunks so the (rows x candidate tilings) work arrays stay small.
    parts = [_dense_conv(*(col[i:i + _CHUNK_ROWS] for col in (g_ic, g_oc, out, k, s, w, a)),
                         layers.batch) for i in range(0, len(uniq), _CHUNK_ROWS)]
    stats = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return {key: (val * n_groups)[inverse] for key, val in stats.items()}


def energy_features(stats: dict) -> np.ndarray:
    """Columns whose dot product with :data:`ENERGY_COEFFS_PJ` is the energy in pJ, (L, 3)."""
    return np.stack([stats["compute"], stats["bufread"], stats["dram"]], axis=1)


def cost_from_stats(stats: dict, energy_coeffs_pj=ENERGY_COEFFS_PJ) -> tuple[np.ndarray, np.ndarray]:
    """``(latency_ms, energy_mj)`` from :func:`layer_stats` output."""
    latency_ms = stats["cycles"] / FREQ_HZ * 1e3
    energy_mj = energy_features(stats) @ np.asarray(energy_coeffs_pj, float) * 1e-9
    return latency_ms, energy_mj


def _check_bits(layers: ConvLayers) -> None:
    for name, col in (("w_bits", layers.w_bits), ("a_bits", layers.a_bits)):
        if col.size and (col.min() < 1 or col.max() > MAX_BITS):
            raise UserError(f"bitfusion supports 1..{MAX_BITS}-bit {name}, got {sorted(set(col.tolist()))}; "
                            f"use bit widths within 1..{MAX_BITS}")


def zero_extended_cost(layers: ConvLayers, dw_lanes: int = DW_LANES,
                       energy_coeffs_pj=ENERGY_COEFFS_PJ) -> tuple[np.ndarray, np.ndarray]:
    """``(latency_ms, energy_mj)`` with each row at its cheapest zero-extended precision.

    A ``w``-bit operand can always be zero-extended and run at any wider precision up to 8
    bits, so the cost of ``(w, a)`` is the minimum of the raw model over ``w' >= w, a' >= a``
    (each measure separately). This removes the few-percent dips of the greedy tiling
    heuristic (where e.g. 7-bit activations tile better than 6-bit ones) and makes both
    measures non-decreasing in each bit width by construction. Every distinct layer shape is
    costed once on the lattice ``[min w .. 8] x [min a .. 8]``.
    """
    _check_bits(layers)
    if len(layers) == 0:
        return np.zeros(0), np.zeros(0)
    shape_cols = np.stack([layers.cin, layers.cout, layers.in_size, layers.kernel, layers.stride,
                           layers.groups], axis=1)
    shapes, shape_idx = np.unique(shape_cols, axis=0, return_inverse=True)
    shape_idx = shape_idx.reshape(-1)
    w_lo, a_lo = int(layers.w_bits.min()), int(layers.a_bits.min())
    ws, as_ = np.arange(w_lo, MAX_BITS + 1), np.arange(a_lo, MAX_BITS + 1)
    si, wi, ai = np.meshgrid(np.arange(len(shapes)), np.arange(ws.size), np.arange(as_.size),
                             indexing="ij")
    grid = ConvLayers(*shapes[si.ravel()].T, ws[wi.ravel()], as_[ai.ravel()], batch=layers.batch)
    lat, energy = cost_from_stats(layer_stats(grid, dw_lanes=dw_lanes), energy_coeffs_pj)
    out = []
    for values in (lat, energy):
        cube = values.reshape(len(shapes), ws.size, as_.size)
        # Minimum over the upper-right quadrant: reverse cumulative minima along both axes.
        cube = np.minimum.accumulate(cube[:, ::-1, :], axis=1)[:, ::-1, :]
        cube = np.minimum.accumulate(cube[:, :, ::-1], axis=2)[:, :, ::-1]
        out.append(cube[shape_idx, layers.w_bits - w_lo, layers.a_bits - a_lo])
    return out[0], out[1]


@register_target("bitfusion")
class BitFusionTarget(HardwareTarget):
    """BitFusion (ISCA 2018) at batch 1, calibrated on APQ's W8A8/W4A4 table."""

    name = "bitfusion"
    bit_range = (1, MAX_BITS)
    forbidden = (ForbiddenChoice("kernel", 7, "dw_a", 4,
                                 "APQ's BitFusion table has no 7x7 depthwise at 4-bit activations"),)

    def layer_cost(self, layers: ConvLayers) -> tuple[np.ndarray, np.ndarray]:
        return zero_extended_cost(layers)

    def describe(self) -> dict:
        return {**super().describe(), "freq_hz": FREQ_HZ, "array": [ARRAY_ROWS, ARRAY_COLS],
                "dw_lanes": DW_LANES, "energy_coeffs_pj": list(ENERGY_COEFFS_PJ)}
