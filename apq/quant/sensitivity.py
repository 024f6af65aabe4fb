"""Per-layer quantization sensitivity of the supernet, and the prior it gives the bit part of the encoding.

The scan quantizes one layer at a time, as the pruning and mixed-precision literature's
sensitivity analysis does: the largest sub-net with every searchable layer at the space's widest
bit width is the reference, and each probe moves one bit gene (pointwise or depthwise weights or
activations) of one block to one narrower width, everything else unchanged. Each probe is the
quantized samples' procedure without the fine-tune (BN re-calibrated fp32 teacher, quantizers
attached, activation ranges calibrated) and is measured on a validation subset.

Under the assumption that the drops of separate layers add up, the drop of a bit policy is the
sum of its layers' probe drops: a fixed linear function of the encoding's bit one-hots
(:func:`prior_weights`), which :class:`apq.predictor.structured.StructuredQuantPredictor` can
start its learned drop from.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from apq.quant.config import QuantConfig
from apq.quant.pipeline import quantize_model, teacher_subnet
from apq.quant.policy import bit_policy
from apq.space.space import BIT_GENES, SearchSpace
from apq.supernet.evaluate import evaluate
from apq.supernet.network import extreme_genome


def largest_genome(space: SearchSpace) -> np.ndarray:
    """The genome with every stage at its deepest, every block at its largest kernel and middle
    channels, and every bit gene at the widest width: int64 (n_genes,) choice indices."""
    genome = extreme_genome(space, largest=True)
    for gene in BIT_GENES:
        genome[space.slices[gene]] = int(np.argmax(space.bit_choices))
    return genome


def probe_genomes(space: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    """The scan's probes: ``genomes`` int64 (P, n_genes), each :func:`largest_genome` with one bit
    gene of one block at one narrower width, and ``where`` int64 (P, 3) = (block, index into
    BIT_GENES, bit choice index) of the gene each probe changed. P = B x 4 x (bit choices - 1)."""
    base, widest = largest_genome(space), int(np.argmax(space.bit_choices))
    genomes, where = [], []
    for block in range(space.n_blocks):
        for g, gene in enumerate(BIT_GENES):
            for choice in range(len(space.bit_choices)):
                if choice != widest:
                    genome = base.copy()
                    genome[space.slices[gene].start + block] = choice
                    genomes.append(genome)
                    where.append((block, g, choice))
    return np.asarray(genomes, dtype=np.int64), np.asarray(where, dtype=np.int64)


def scan(supernet: torch.nn.Module, data, config: QuantConfig, probes: np.ndarray | None = None,
         seed: int = 0) -> dict:
    """Accuracy of the widest-bit largest sub-net and of each probe of :func:`probe_genomes`.

    ``data``: a :class:`apq.samples.data.SampleData` whose validation split (cut to the images to
    use) every probe is measured on; ``probes``: row indices into the probes (default all).
    ``seed`` fixes the activation-range calibration's subsampling, the same for every probe, so a
    probe's drop is not blurred by another draw than the reference's, and a scan repeats exactly.
    Returns ``{"base_acc"`` (percent), ``"drop"`` float64 (B, 4, bit choices): base accuracy minus
    the probe's, in points (0 at the widest width and where not probed), ``"images"``, ``"seconds"}``.
    """
    started = time.perf_counter()
    space = supernet.space
    x, y = data.split("val")
    teacher = teacher_subnet(supernet, largest_genome(space), data.calib, config)

    def accuracy(genome: np.ndarray) -> float:
        torch.manual_seed(seed)
        model = quantize_model(teacher, bit_policy(space, genome), data.calib, config)
        return evaluate(model, x, y, config.eval_batch, config.channels_last).accuracy

    base_acc = accuracy(largest_genome(space))
    genomes, where = probe_genomes(space)
    if probes is not None:
        genomes, where = genomes[probes], where[probes]
    drop = np.zeros((space.n_blocks, len(BIT_GENES), len(space.bit_choices)))
    for genome, (block, g, choice) in zip(genomes, where):
        drop[block, g, choice] = base_acc - accuracy(genome)
    return {"base_acc": base_acc, "drop": drop, "images": len(y), "seconds": time.perf_counter() - started}


def prior_weights(space: SearchSpace, drop: np.ndarray) -> np.ndarray:
    """The scan's drops (B, 4, bit choices) laid out as the encoding's bit part (see
    :mod:`apq.space.encoding`: gene-major, then block, then choice): float32 (4 x B x choices,),
    so that ``encoding[:, fp32_dim:] @ weights`` is a genome's summed probe drop over its active blocks."""
    drop = np.asarray(drop, dtype=np.float32)
    if drop.shape != (space.n_blocks, len(BIT_GENES), len(space.bit_choices)):
        raise ValueError(f"drop has shape {drop.shape}, space '{space.name}' needs "
                         f"{(space.n_blocks, len(BIT_GENES), len(space.bit_choices))}")
    return drop.transpose(1, 0, 2).reshape(-1)
