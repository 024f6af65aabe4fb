"""Which sub-net sample i is: its architecture and its bit policy, from (preset seed, kind, i) alone.

- Architecture (depth, kernel and middle-channel genes): a function of (preset seed, i) only,
  the same for fp32 sample i and quantized sample i. The predictors' hash split puts every
  quantized test index among the fp32 test indices (:mod:`apq.predictor.config`), so the
  transferred predictor never saw a quantized test architecture, and each quantized sample's
  drop from its fp32 twin is measured directly.
- Bit genes: uniform per layer over the space's bit menu, drawn from the kind's seed
  (:func:`sample_seed`); fp32 samples store them but never use them.

Architectures are drawn ``uniform`` over genomes or ``cost_stratified``: sample i gets a seeded
target position u in [0, 1) between the smallest and the largest sub-net's MACs and, among
``candidates`` seeded tilted genomes (:func:`tilted_architectures`), the one whose MACs are
nearest. MACs do not depend on the bits, so fp32 and quantized samples share the stratification.
Uniform genomes crowd the middle of the cost range, where sub-nets differ least in accuracy, and
never reach its top third (fmnist: 20,000 uniform genomes span 4.5-19.9 of 4.1-26.4 MMACs);
stratified draws spread the labels evenly over the whole range.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from apq.hardware.cost import block_option_layers
from apq.samples.config import DRAWS, KINDS
from apq.space.genome import sample
from apq.space.space import BIT_GENES, SearchSpace

ARCHITECTURE_GENES = ("depth", "kernel", "mid")
#: Largest log-odds between a gene's last and first choice in a tilted candidate: at 8 the
#: candidates reach both ends of fmnist's cost range (at 4 the top tenth stays under-filled).
MAX_TILT = 8.0
#: Seed stream of the architectures, beside those of the kinds (their index in ``KINDS``).
_ARCHITECTURE_STREAM = len(KINDS)


def sample_seed(base_seed: int, kind: str, index: int) -> int:
    """Seed of sample ``index`` of ``kind`` (its bits and evaluation draws): a function of
    (preset seed, kind, index) only."""
    return _seed(base_seed, KINDS.index(kind), index)


def replicate_seed(base_seed: int, kind: str, index: int, replicate: int) -> int:
    """Seed of the evaluation draws (fine-tune batch order, range calibration) of replicate
    ``replicate`` of sample ``index``: :func:`sample_seed` for replicate 0, an independent seed
    for each later one. The genome never depends on it."""
    if replicate == 0:
        return sample_seed(base_seed, kind, index)
    return int(np.random.SeedSequence([base_seed, KINDS.index(kind), index, replicate]).generate_state(1, np.uint32)[0])


def architecture_seed(base_seed: int, index: int) -> int:
    """Seed of sample ``index``'s architecture: a function of (preset seed, index) only."""
    return _seed(base_seed, _ARCHITECTURE_STREAM, index)


def _seed(base_seed: int, stream: int, index: int) -> int:
    return int(np.random.SeedSequence([base_seed, stream, index]).generate_state(1, np.uint32)[0])


class MacsTable:
    """Multiply-accumulates of sub-nets (bits play no part), evaluated over whole populations.

    Built from the cost tables' block options (:func:`apq.hardware.cost.block_option_layers`):
    network MACs = head + tail + sum over active blocks of expand + depthwise + project.
    """

    def __init__(self, space: SearchSpace):
        self.space = space
        expand, depthwise, project = block_option_layers(space)
        n_b, n_m, n_k, nb = space.n_blocks, space.mid_table.shape[1], len(space.kernel_choices), len(space.bit_choices)
        pointwise = (expand.macs + project.macs).reshape(n_b, n_m, nb, nb)[..., 0, 0]  # (B, M)
        self.block = depthwise.macs.reshape(n_b, n_k, n_m, nb, nb)[..., 0, 0] + pointwise[:, None, :]  # (B, K, M)
        self.fixed = float(space.head_layers().macs.sum() + space.tail_layers().macs.sum())

    def evaluate(self, genomes: np.ndarray) -> np.ndarray:
        """MACs (N,) float64 of genomes (N, n_genes), batch 1."""
        sp = self.space
        genomes = np.atleast_2d(genomes)
        blocks = np.arange(sp.n_blocks)[None, :]
        per_block = self.block[blocks, genomes[:, sp.slices["kernel"]], genomes[:, sp.slices["mid"]]]
        return np.where(sp.active_blocks(genomes), per_block, 0.0).sum(axis=1) + self.fixed

    def extremes(self) -> tuple[float, float]:
        """MACs of the smallest and of the largest sub-net of the space."""
        sp, real = self.space, self.space.mid_table > 0  # (B, M): padded middle-channel slots excluded
        per_block = [np.where(real[:, None, :], self.block, bound).reshape(sp.n_blocks, -1)
                     for bound in (np.inf, -np.inf)]
        position = sp.block_position
        low = position < np.asarray([d.min() for d in sp.depth_choices])[sp.block_stage]
        high = position < np.asarray([d.max() for d in sp.depth_choices])[sp.block_stage]
        return (self.fixed + float(per_block[0].min(axis=1)[low].sum()),
                self.fixed + float(per_block[1].max(axis=1)[high].sum()))


@lru_cache(maxsize=4)
def _macs_table(space: SearchSpace) -> MacsTable:
    return MacsTable(space)


def draw_architecture(space: SearchSpace, seed: int, draw: str = "cost_stratified",
                      candidates: int = 128) -> np.ndarray:
    """A genome (n_genes,) whose architecture genes are drawn by ``draw`` (see the module
    docstring) from ``seed``; its bit genes are uniform too but meant to be replaced."""
    rng = np.random.default_rng(seed)
    if draw == "uniform":
        return sample(space, 1, rng)[0]
    if draw != "cost_stratified":
        raise ValueError(f"draw must be one of {DRAWS}, not {draw!r}")
    table = _macs_table(space)
    low, high = table.extremes()
    target = low + rng.random() * (high - low)
    pool = tilted_architectures(space, candidates, rng)
    return pool[int(np.argmin(np.abs(table.evaluate(pool) - target)))]


def tilted_architectures(space: SearchSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` genomes (n, n_genes) whose architecture genes lean each toward small or large choices.

    Candidate c draws a tilt t_c uniform in [-MAX_TILT, MAX_TILT]; each of its architecture genes
    with k choices picks choice j with probability proportional to exp(t_c j / (k - 1)): uniform
    at t_c = 0, the most uniform distribution with a given mean choice otherwise, so candidates of
    every size are drawn while each stays as varied as its size allows. Bit genes stay uniform.
    """
    genomes = sample(space, n, rng)
    tilt = MAX_TILT * (2.0 * rng.random(n) - 1.0)
    columns = np.concatenate([np.arange(space.n_genes)[space.slices[gene]] for gene in ARCHITECTURE_GENES])
    for column in columns:
        logits = tilt[:, None] * np.linspace(0.0, 1.0, space.cardinality[column])[None, :]
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        cdf = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
        genomes[:, column] = np.minimum((rng.random(n)[:, None] > cdf).sum(axis=1), space.cardinality[column] - 1)
    return genomes


def sample_genome(space: SearchSpace, base_seed: int, kind: str, index: int, draw: str = "cost_stratified",
                  candidates: int = 128) -> np.ndarray:
    """The genome (n_genes,) int64 of sample ``index`` of ``kind``: the shared architecture of
    index ``index``, bit genes uniform per layer from the kind's seed."""
    genome = draw_architecture(space, architecture_seed(base_seed, index), draw, candidates).copy()
    rng = np.random.default_rng(sample_seed(base_seed, kind, index))
    for gene in BIT_GENES:
        cols = space.slices[gene]
        genome[cols] = rng.integers(0, space.cardinality[cols])
    return genome
