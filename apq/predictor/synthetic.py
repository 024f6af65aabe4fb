"""SYNTHETIC sample files for tests and benchmarks of the predictor stage (not measurements).

The accuracy of a genome is a fixed, smooth, nonlinear function of its architecture and bit
policy plus Gaussian noise, so that predictors can be exercised and compared before (or
without) real samples from the supernet. Files are written with the real :class:`SampleWriter`
and marked ``split="synthetic"``; nothing in the pipeline treats them as measured accuracy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from apq.samples.store import SampleHeader, SampleWriter, config_text
from apq.space.encoding import Encoder
from apq.space.genome import sample
from apq.space.space import SearchSpace

#: Logit-scale drop per active block of each bit choice: 2 bits far worse than 4 (issue 16's probe of
#: real sub-nets: W4A4 within a point of fp32, 2-bit pointwise weights alone 15-25 points below it).
_BIT_PENALTY = {2: 0.16, 4: 0.006, 6: 0.0015, 8: 0.0}
#: Sensitivity of each bit gene kind: pointwise weights most, depthwise weights least (same probe).
_GENE_WEIGHT = {"pw_w": 1.0, "pw_a": 0.35, "dw_w": 0.25, "dw_a": 0.35}
#: Chance accuracy of the synthetic 10-class task (percent): quantized accuracy saturates there.
CHANCE = 10.0


def fp32_accuracy(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic fp32 accuracy (N,) percent: saturating in capacity, with a depth bonus."""
    active = space.active_blocks(genomes)
    width = space.values(genomes, "mid") / space.mid_table.max(axis=1)[None, :]
    kernel = space.values(genomes, "kernel") / space.kernel_choices.max()
    capacity = np.sum(active * (0.6 * np.sqrt(width) + 0.4 * kernel ** 2 * width), axis=1)
    late = np.sum(active * (space.block_stage[None, :] >= space.n_stages // 2) * kernel, axis=1)
    return 82.0 + 10.0 * (1.0 - np.exp(-capacity / 5.0)) + 0.3 * np.sqrt(late)


def quant_logit_drop(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic drop (N,) in logits of the chance-to-100 % scale: a sum over active blocks
    of each bit gene's penalty, larger for narrow blocks, and a little superadditive."""
    active = space.active_blocks(genomes)
    width = space.values(genomes, "mid") / space.mid_table.max(axis=1)[None, :]
    penalty_of = np.vectorize(lambda b: _BIT_PENALTY.get(int(b), 0.0))
    drop = np.zeros(len(genomes))
    for gene, weight in _GENE_WEIGHT.items():
        drop += np.sum(active * weight * penalty_of(space.values(genomes, gene)) / np.sqrt(width + 0.25), axis=1)
    return drop + 0.15 * drop ** 2


def quantized_accuracy(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic quantized accuracy (N,) percent: the fp32 accuracy minus the drop, in logits."""
    share = (fp32_accuracy(space, genomes) - CHANCE) / (100.0 - CHANCE)
    logit = np.log(share / (1 - share)) - quant_logit_drop(space, genomes)
    return CHANCE + (100.0 - CHANCE) / (1.0 + np.exp(-logit))


def quant_drop(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic accuracy lost to quantization (N,) points."""
    return fp32_accuracy(space, genomes) - quantized_accuracy(space, genomes)


@dataclass
class SyntheticRows:
    """SYNTHETIC samples: ``genomes`` (N, n_genes), ``encodings`` (N, D), ``accuracy`` (N,) and its
    two ``halves`` (N, 2) in percent (noisy), ``truth`` (N,) the noise-free accuracy."""

    genomes: np.ndarray
    encodings: np.ndarray
    accuracy: np.ndarray
    halves: np.ndarray
    truth: np.ndarray


def synthetic_rows(space: SearchSpace, kind: str, n: int, seed: int = 0, noise: float = 0.15) -> SyntheticRows:
    """``n`` SYNTHETIC samples of ``kind`` (fp32 | quant) of random genomes, with Gaussian label noise
    of std ``noise`` points on the whole split."""
    rng = np.random.default_rng([seed, 0 if kind == "fp32" else 1])
    genomes = sample(space, n, rng)
    quant = kind == "quant"
    truth = quantized_accuracy(space, genomes) if quant else fp32_accuracy(space, genomes)
    # Each half of a (synthetic) evaluation split carries twice the noise variance of the whole.
    halves = truth[:, None] + rng.normal(0.0, noise * np.sqrt(2.0), (n, 2))
    return SyntheticRows(genomes, Encoder(space).encode(genomes, quant=quant), halves.mean(axis=1), halves, truth)


def write_synthetic_samples(space: SearchSpace, path: str | Path, kind: str, n: int, seed: int = 0,
                            noise: float = 0.15) -> Path:
    """Write ``n`` SYNTHETIC rows (:func:`synthetic_rows`) to a new sample file of ``kind``; returns the path."""
    rows = synthetic_rows(space, kind, n, seed, noise)
    header = SampleHeader(kind=kind, space=space.name, encoding_dim=rows.encodings.shape[1], n_genes=space.n_genes,
                          split="synthetic", config=config_text({"synthetic": True, "seed": seed, "noise": noise}))
    with SampleWriter(path, header) as writer:
        for i in range(n):
            writer.append({"index": i, "genome": rows.genomes[i], "encoding": rows.encodings[i],
                           "accuracy": rows.accuracy[i], "accuracy_halves": rows.halves[i],
                           **_soft_labels(rows.halves[i]), "seconds": 0.0, "seed": seed})
    return Path(path)


def _soft_labels(halves: np.ndarray) -> dict:
    """Synthetic soft labels of one row: correct-class probability = accuracy / 100 per half, loss = -log of it."""
    p_halves = np.clip(halves / 100.0, 1e-3, 1.0)
    return {"loss": float(-np.log(p_halves).mean()), "loss_halves": -np.log(p_halves),
            "p_correct": float(p_halves.mean()), "p_correct_halves": p_halves}
