"""Sample files as predictor datasets: features, labels, fingerprints and fixed seeded splits.

The test split of a file is chosen per sample by a seeded hash of its sample index, not by
position: appending samples to a file later keeps every old test sample in the test split
(and every old training sample out of it), so metrics stay comparable as files grow.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from apq.errors import UserError
from apq.samples.store import read_samples, sample_path
from apq.space.encoding import Encoder
from apq.space.space import BIT_GENES, SearchSpace

#: Smallest training pool and test split a predictor is fitted / judged on.
MIN_POOL, MIN_TEST = 8, 4


#: Label kinds of every sample, each oriented so that higher is better (what rankings need):
#: top-1 ``accuracy`` (percent), ``loss`` = the *negated* mean cross-entropy (nats), ``p_correct``
#: = mean correct-class probability in [0, 1] (apq.samples.store).
LABEL_KINDS = ("accuracy", "loss", "p_correct")
_SIGN = {"accuracy": 1.0, "loss": -1.0, "p_correct": 1.0}


@dataclass
class Dataset:
    """One sample file: ``X`` float32 (N, D) encodings, ``y`` float32 (N,) accuracy percent,
    ``halves`` float32 (N, 2) accuracy percent on the two halves of the evaluation split;
    ``labels[kind]`` (N,) and ``label_halves[kind]`` (N, 2) float32 for each of
    :data:`LABEL_KINDS` (``y`` and ``halves`` are the ``accuracy`` ones); ``genome`` int64 (N, n_genes)."""

    kind: str
    path: Path
    index: np.ndarray
    X: np.ndarray
    y: np.ndarray
    fingerprint: dict
    halves: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    label_halves: dict[str, np.ndarray] = field(default_factory=dict)
    genome: np.ndarray | None = None

    def rows(self, rows: np.ndarray, label: str = "accuracy") -> tuple[np.ndarray, np.ndarray]:
        """(X, label) of ``rows``; ``label`` is one of :data:`LABEL_KINDS`."""
        return self.X[rows], (self.y if label == "accuracy" else self.labels[label])[rows]


def load_dataset(space: SearchSpace, kind: str, path: str | Path | None = None) -> Dataset:
    """Read a sample file of ``space``; :class:`UserError` with a how-to if it is missing or foreign."""
    path = Path(path) if path is not None else sample_path(space.name, kind)
    if not path.exists():
        flag = " --quant" if kind == "quant" else ""
        raise UserError(f"no {kind} sample file at {path}; run 'apq samples --space {space.name}{flag}' "
                        "(or 'make samples') first")
    encoder = Encoder(space)
    dim = encoder.dim if kind == "quant" else encoder.fp32_dim
    samples = read_samples(path, space=space.name, kind=kind, encoding_dim=dim, n_genes=space.n_genes)
    labels = {k: (_SIGN[k] * getattr(samples, k)).astype(np.float32) for k in LABEL_KINDS}
    halves = {k: (_SIGN[k] * getattr(samples, f"{k}_halves")).astype(np.float32) for k in LABEL_KINDS}
    return Dataset(kind, path, samples.index, samples.encoding.astype(np.float32), labels["accuracy"],
                   fingerprint(path, samples), halves["accuracy"], labels, halves, samples.genome.astype(np.int64))


def fingerprint(path: Path, samples) -> dict:
    """What identifies a sample file's content: its row count and a SHA-256 of its data columns."""
    digest = hashlib.sha256()
    for column in (samples.index, samples.genome, samples.encoding, samples.accuracy, samples.loss, samples.p_correct):
        digest.update(np.ascontiguousarray(column).tobytes())
    digest.update(str(samples.attrs.get("config", "")).encode())
    return {"file": path.name, "rows": len(samples), "sha256": digest.hexdigest()}


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser: a well-mixed uint64 hash of each uint64 value."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def in_test_split(index: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean (N,): sample ``index`` is in the test split (about ``fraction`` of them)."""
    keyed = np.asarray(index, dtype=np.int64).astype(np.uint64) ^ _splitmix64(np.asarray([seed], dtype=np.uint64))
    return _splitmix64(keyed) < np.uint64(int(fraction * 2.0 ** 64))


def split(data: Dataset, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training-pool rows, test rows) of a dataset; :class:`UserError` if either is too small."""
    in_test = in_test_split(data.index, fraction, seed)
    pool, test = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    if len(pool) < MIN_POOL or len(test) < MIN_TEST:
        raise UserError(f"{data.path} has {len(data.y)} samples, too few to train on ({len(pool)}) and test "
                        f"on ({len(test)}) at least {MIN_POOL} and {MIN_TEST}; generate more with 'apq samples'")
    return pool, test


def budget_rows(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` rows of ``pool`` drawn without replacement by ``seed`` (all of it when n >= len(pool))."""
    return np.sort(np.random.default_rng(seed).permutation(pool)[:n])


def menu_coverage(space: SearchSpace, genomes: np.ndarray) -> dict:
    """How often each bit width of the menu appears at each searchable layer position among
    ``genomes`` (N, n_genes), counting a block only where the genome keeps it (depth).

    A position is a (bit gene, block) pair (``pw_w``, ``pw_a``, ``dw_w``, ``dw_a`` of each block).
    Returns ``min_count`` (the fewest appearances of any width at any position), ``min_at`` (one
    such gene, block and width), ``mean_count`` and ``n_genomes``.
    """
    genomes = np.atleast_2d(genomes)
    active = space.active_blocks(genomes)
    counts = np.stack([np.stack([((space.values(genomes, gene) == width) & active).sum(axis=0)
                                 for width in space.bit_choices]) for gene in BIT_GENES])  # (G, W, B)
    gene, width, block = np.unravel_index(int(np.argmin(counts)), counts.shape)
    return {"min_count": int(counts.min()), "min_at": {"gene": BIT_GENES[gene], "block": int(block),
                                                       "bits": int(space.bit_choices[width])},
            "mean_count": float(counts.mean()), "n_genomes": len(genomes)}
