"""SYNTHETIC sample files for tests and benchmarks of the predictor stage (not measurements).

The accuracy of a genome is a fixed, smooth, nonlinear function of its architecture and bit
policy plus Gaussian noise, so that predictors can be exercised and compared before (or
without) real samples from the supernet. Files are written with the real :class:`SampleWriter`
and marked ``split="synthetic"``; nothing in the pipeline treats them as measured accuracy.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from apq.samples.store import SampleHeader, SampleWriter, config_text
from apq.space.encoding import Encoder
from apq.space.genome import sample
from apq.space.space import SearchSpace

#: Accuracy cost (points per unit of block weight) of a 2-/4-/6-/8-bit choice, per bit gene kind.
_BIT_PENALTY = {2: 4.0, 4: 1.0, 6: 0.2, 8: 0.0}
_GENE_WEIGHT = {"pw_w": 0.5, "pw_a": 0.8, "dw_w": 0.3, "dw_a": 0.6}


def fp32_accuracy(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic fp32 accuracy (N,) percent: saturating in capacity, with a depth bonus."""
    active = space.active_blocks(genomes)
    width = space.values(genomes, "mid") / space.mid_table.max(axis=1)[None, :]
    kernel = space.values(genomes, "kernel") / space.kernel_choices.max()
    capacity = np.sum(active * (0.6 * np.sqrt(width) + 0.4 * kernel ** 2 * width), axis=1)
    late = np.sum(active * (space.block_stage[None, :] >= space.n_stages // 2) * kernel, axis=1)
    return 82.0 + 10.0 * (1.0 - np.exp(-capacity / 5.0)) + 0.3 * np.sqrt(late)


def quant_drop(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Noise-free synthetic accuracy lost to quantization (N,) points: narrow blocks suffer more."""
    active = space.active_blocks(genomes)
    width = space.values(genomes, "mid") / space.mid_table.max(axis=1)[None, :]
    drop = np.zeros(len(genomes))
    for gene, weight in _GENE_WEIGHT.items():
        bits = space.values(genomes, gene)
        penalty = np.vectorize(_BIT_PENALTY.get)(bits)
        drop += np.sum(active * weight * penalty / np.sqrt(width + 0.25), axis=1)
    return 0.12 * drop ** 1.3


def write_synthetic_samples(space: SearchSpace, path: str | Path, kind: str, n: int, seed: int = 0,
                            noise: float = 0.15) -> Path:
    """Write ``n`` SYNTHETIC rows to a new sample file of ``kind`` (fp32 | quant); returns the path."""
    rng = np.random.default_rng([seed, 0 if kind == "fp32" else 1])
    genomes = sample(space, n, rng)
    quant = kind == "quant"
    accuracy = fp32_accuracy(space, genomes) - (quant_drop(space, genomes) if quant else 0.0)
    # Each half of a (synthetic) evaluation split carries twice the noise variance of the whole.
    halves = accuracy[:, None] + rng.normal(0.0, noise * np.sqrt(2.0), (n, 2))
    accuracy = halves.mean(axis=1)
    encoder = Encoder(space)
    encodings = encoder.encode(genomes, quant=quant)
    header = SampleHeader(kind=kind, space=space.name, encoding_dim=encodings.shape[1], n_genes=space.n_genes,
                          split="synthetic", config=config_text({"synthetic": True, "seed": seed, "noise": noise}))
    with SampleWriter(path, header) as writer:
        for i in range(n):
            writer.append({"index": i, "genome": genomes[i], "encoding": encodings[i], "accuracy": accuracy[i],
                           "accuracy_halves": halves[i], "loss": 0.0, "seconds": 0.0, "seed": seed})
    return Path(path)
