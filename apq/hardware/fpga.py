"""Analytic cost model of an edge FPGA running a bit-serial matrix-multiply overlay.

The target is HAQ's edge accelerator (Wang et al., "HAQ: Hardware-Aware Automated
Quantization with Mixed Precision", CVPR 2019, experimental setup): BISMO (Umuroglu, Rasnayake, Sjalander,
"BISMO: A Scalable Bit-Serial Matrix Multiplication Overlay for Reconfigurable Computing",
FPL 2018, below [BISMO]) on a Zynq-7020 board (PYNQ-Z1). No measured table exists for it; the
constants below are sourced or stated assumptions, chosen to be plausible rather than fitted.

Model, per conv layer (numpy over all rows, no Python loop over layers):

* **Lowering.** A conv is an im2col GEMM ``(M x K) . (K x N)`` with ``M = cout/groups``,
  ``K = cin/groups * k^2``, ``N = out_size^2 * batch``, done once per group. The lowering itself
  runs on the host CPU (as in BISMO's convolution examples) and is not charged; the overlay
  streams the lowered (k^2-times larger) activation matrix.
* **Depthwise.** A depthwise conv is ``groups`` GEMMs with ``M = 1, K = k^2``. BISMO's
  instruction stream can pack ``DM`` of them into one array pass with a block-diagonal LHS
  (row r holds channel r's taps, zero elsewhere; the K dimension is the concatenation of the
  packed channels' taps), so ``ceil(C / DM)`` passes of ``K = DM * k^2`` - the Dk lanes carry
  zeros for ``(DM-1)/DM`` of the packed K, and for 3x3 only 72 of 256 lanes are used at all.
  This is the efficiency penalty depthwise convs pay on a GEMM overlay; unpacked GEMMs of
  ``M = 1`` would be 8x worse still (set ``DW_PACK = 1`` to see it).
* **Compute.** Bit-serial: each binary tile op ``Dm x Dk x Dn`` takes one cycle and a
  ``w x a``-bit product takes ``w * a`` binary passes ([BISMO] bit-serial decomposition):
  ``cycles = ceil(M/Dm) * ceil(K/Dk) * ceil(N/Dn) * w * a`` per GEMM.
* **Memory.** DRAM traffic at the operands' bit widths (weights ``M*K*w``, lowered inputs
  ``K*N*a``, 32-bit results ``M*N*32``). The smaller-refetch of two schedules is used: keep
  the weights resident in the LHS buffer and stream inputs once per weight chunk, or keep
  inputs resident and stream weights once per input chunk.
* **Latency** ``= max(compute, memory) / f + per-layer overhead``.
* **Energy** ``= binary ops executed (incl. idle lanes of a pass) * E_binop + BRAM bits read
  * E_bram + DRAM bits * E_dram + static power * latency``.
"""
from __future__ import annotations

import numpy as np

from apq.errors import UserError
from apq.hardware.target import HardwareTarget, register_target
from apq.space.layers import ConvLayers

# --- Overlay configuration -------------------------------------------------------------------
FREQ_HZ = 200e6  # [BISMO] evaluation / HAQ setup: the PYNQ-Z1 instance runs at 200 MHz.
DM, DK, DN = 8, 256, 8  # [BISMO] PYNQ-Z1 instance (HAQ setup): 8x256x8 binary DPA;
#                         8*256*8 binary MACs * 2 ops * 200 MHz = 6.5 TOPS, [BISMO] abstract.
DW_PACK = DM  # assumption (see module doc): depthwise channels packed per pass, block-diagonal.
ACC_BITS = 32  # [BISMO]: results accumulate and are written back as 32-bit integers.
# On-chip matrix buffers. Assumption: 1024 entries of Dk bits per DPU row (LHS) and column
# (RHS), i.e. 2 x 2 Mbit, which fits the xc7z020's 140 BRAM36 = 4.9 Mbit (Zynq-7000 data
# sheet DS190) alongside the result buffers.
LHS_BUF_BITS = DM * 1024 * DK
RHS_BUF_BITS = DN * 1024 * DK

# --- Memory system ---------------------------------------------------------------------------
# Zynq-7000 TRM (UG585), AXI HP interfaces: four 64-bit AXI HP ports at up to 150 MHz = 4.8 GB/s into the
# PS DDR controller. PYNQ-Z1 reference manual: 512 MB DDR3, 16-bit bus at 1050 Mb/s per pin
# = 2.1 GB/s, so the DRAM device, not the ports, is the limit.
HP_PORT_BYTES_PER_S = 4 * 8 * 150e6
DDR_PEAK_BYTES_PER_S = 16 / 8 * 1050e6
DDR_EFFICIENCY = 0.7  # assumption: typical sustained/peak of a DDR3 controller on long bursts.
DRAM_BYTES_PER_S = min(HP_PORT_BYTES_PER_S, DDR_PEAK_BYTES_PER_S) * DDR_EFFICIENCY
LAYER_OVERHEAD_S = 10e-6  # assumption: host instruction generation + MMIO start/done per layer.

# --- Energy ----------------------------------------------------------------------------------
# Horowitz, "Computing's Energy Problem", ISSCC 2014 (45 nm): 8-bit add 0.03 pJ, i.e. a few
# fJ per bit op in an ASIC; FPGA fabric costs ~14x ASIC dynamic energy (Kuon & Rose, IEEE TCAD
# 2007). AND + popcount-tree share + accumulate per binary MAC: ~0.1 pJ on 28 nm fabric, so
# the full array (16384 lanes) draws ~0.33 W at 200 MHz, in line with a PYNQ-Z1's budget.
BINOP_PJ = 0.1
# 7-series BRAM36 dynamic energy: a 72-bit port access ~20 pJ at 28 nm (order of magnitude
# from the Xilinx Power Estimator for xc7z020), ~0.3 pJ per bit read.
BRAM_PJ_PER_BIT = 0.3
# Horowitz ISSCC 2014: DRAM 1.3-2.6 nJ per 64-bit access, i.e. 20-40 pJ/bit; low end for DDR3.
DRAM_PJ_PER_BIT = 20.0
# Xilinx Power Estimator, xc7z020 PL static power at 25 C: ~0.12 W (assumption, typical).
STATIC_W = 0.12


def _cdiv(a, b):
    return -(-a // b)


def gemm_shapes(layers: ConvLayers):
    """Per-row ``(M, K, N, n_gemms)`` of the lowered convolution, int64 arrays (L,).

    Depthwise rows are packed ``DW_PACK`` channels per pass (block-diagonal), so
    ``M = DW_PACK, K = DW_PACK * k^2`` and ``n_gemms = ceil(C / DW_PACK)``.
    """
    k2 = layers.kernel * layers.kernel
    n = layers.out_size * layers.out_size * layers.batch
    dw = layers.is_depthwise
    pack = np.minimum(DW_PACK, layers.cin)
    m = np.where(dw, pack, layers.cout // layers.groups)
    k = np.where(dw, pack * k2, (layers.cin // layers.groups) * k2)
    n_gemms = np.where(dw, _cdiv(layers.cin, pack), layers.groups)
    return m, k, n, n_gemms


def layer_stats(layers: ConvLayers) -> dict:
    """Cycle, traffic and access counts per row (float64 arrays (L,))."""
    m, k, n, g = gemm_shapes(layers)
    w = layers.w_bits.astype(float)
    a = layers.a_bits.astype(float)
    tiles = (_cdiv(m, DM) * _cdiv(k, DK) * _cdiv(n, DN)).astype(float)
    passes = w * a  # bit-serial: one binary pass per (weight bit, activation bit) pair
    compute = g * tiles * passes
    # Useful words moved (the padded/zero entries of packed depthwise weights are real zeros
    # and are moved too: M*K includes them).
    w_bits = (m * k).astype(float) * w
    i_bits = (k * n).astype(float) * a
    o_bits = (m * n).astype(float) * ACC_BITS
    keep_w = w_bits + i_bits * np.ceil(w_bits / LHS_BUF_BITS)
    keep_i = i_bits + w_bits * np.ceil(i_bits / RHS_BUF_BITS)
    dram = g * (np.minimum(keep_w, keep_i) + o_bits)
    # Each binary pass reads a Dm x Dk LHS and a Dk x Dn RHS bit-tile from BRAM.
    bram = compute * (DM + DN) * DK
    return {"compute": compute, "dram": dram, "bram": bram, "binops": compute * DM * DK * DN}


@register_target("fpga")
class FpgaTarget(HardwareTarget):
    """Zynq-7020 (PYNQ-Z1) with an 8x256x8 BISMO bit-serial overlay at 200 MHz."""

    name = "fpga"

    def layer_cost(self, layers: ConvLayers) -> tuple[np.ndarray, np.ndarray]:
        if len(layers) and min(layers.w_bits.min(), layers.a_bits.min()) < 1:
            raise UserError("fpga (bit-serial) needs at least 1-bit weights and activations; "
                            "use bit widths within 1..8")
        s = layer_stats(layers)
        compute_s = s["compute"] / FREQ_HZ
        memory_s = s["dram"] / 8.0 / DRAM_BYTES_PER_S
        latency_s = np.maximum(compute_s, memory_s) + LAYER_OVERHEAD_S
        energy_pj = (s["binops"] * BINOP_PJ + s["bram"] * BRAM_PJ_PER_BIT
                     + s["dram"] * DRAM_PJ_PER_BIT + STATIC_W * latency_s * 1e12)
        return latency_s * 1e3, energy_pj * 1e-9

    def describe(self) -> dict:
        return {**super().describe(), "freq_hz": FREQ_HZ, "array": [DM, DK, DN],
                "dram_bytes_per_s": DRAM_BYTES_PER_S, "dw_pack": DW_PACK}
