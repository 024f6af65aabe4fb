"""Genome operators over whole populations (pure numpy): sampling, mutation, crossover, repair.

Every operator returns genomes that are valid for the space (each gene inside its cardinality)
and for the target's rules (no forbidden per-block combination), so no caller ever filters.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from apq.space.space import SearchSpace


@dataclass(frozen=True)
class ForbiddenChoice:
    """A per-block combination a target cannot run, e.g. 7x7 depthwise at 4-bit activations.

    ``gene_a``/``gene_b`` name per-block genes (``kernel``, ``mid``, ``pw_w``, ``pw_a``,
    ``dw_w``, ``dw_a``); ``value_a``/``value_b`` are the *values* (kernel size, bit width),
    not choice indices. A block holding both values at once is invalid. Hardware targets declare
    them (``HardwareTarget.forbidden``); the space's operators honour them.
    """

    gene_a: str
    value_a: int
    gene_b: str
    value_b: int
    reason: str


@dataclass(frozen=True)
class CompiledRule:
    """A forbidden combination turned into choice indices: gene columns and the index pair."""

    cols_a: slice
    index_a: int
    cols_b: slice
    index_b: int


class Rules:
    """Validity rules of one (space, target) pair, compiled once from ``ForbiddenChoice`` data."""

    def __init__(self, space: SearchSpace, forbidden: tuple[ForbiddenChoice, ...] = ()):
        self.space = space
        self.forbidden = tuple(forbidden)
        self.compiled = tuple(r for r in (self._compile(f) for f in forbidden) if r is not None)

    def _compile(self, rule: ForbiddenChoice) -> CompiledRule | None:
        index_a = self._index_of(rule.gene_a, rule.value_a)
        index_b = self._index_of(rule.gene_b, rule.value_b)
        if index_a is None or index_b is None:
            return None  # the space never offers one of the values: nothing to forbid
        if self.space.cardinality[self.space.slices[rule.gene_b]].min() < 2:
            raise ValueError(f"rule {rule} leaves gene '{rule.gene_b}' no valid choice")
        return CompiledRule(self.space.slices[rule.gene_a], index_a, self.space.slices[rule.gene_b], index_b)

    def _index_of(self, gene: str, value: int) -> int | None:
        choices = self.space.kernel_choices if gene == "kernel" else self.space.bit_choices
        if gene not in ("kernel", "pw_w", "pw_a", "dw_w", "dw_a"):
            raise ValueError(f"rules may name kernel or bit genes, not '{gene}'")
        hits = np.flatnonzero(choices == value)
        return int(hits[0]) if hits.size else None

    def violations(self, genomes: np.ndarray, rule: CompiledRule) -> np.ndarray:
        """Boolean (N, B): blocks holding the forbidden pair of ``rule``."""
        return (genomes[:, rule.cols_a] == rule.index_a) & (genomes[:, rule.cols_b] == rule.index_b)

    def is_valid(self, genomes: np.ndarray) -> np.ndarray:
        """Boolean (N,): every gene in range and no block breaks a rule (skipped blocks included)."""
        genomes = np.atleast_2d(genomes)
        ok = np.all((genomes >= 0) & (genomes < self.space.cardinality), axis=1)
        for rule in self.compiled:
            ok &= ~self.violations(genomes, rule).any(axis=1)
        return ok

    def repair(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Re-draw gene ``b`` of each offending block uniformly among its other choices (in place)."""
        return self._redraw_until_valid(genomes, rng, both_genes=False)

    def redraw_pairs(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Re-draw both genes of each offending block until valid (in place; keeps uniformity)."""
        return self._redraw_until_valid(genomes, rng, both_genes=True)

    def _redraw_until_valid(self, genomes: np.ndarray, rng: np.random.Generator, both_genes: bool) -> np.ndarray:
        # Rules may share genes, so re-check all of them until a full pass changes nothing.
        changed = True
        while changed:
            changed = False
            for rule in self.compiled:
                rows, blocks = np.nonzero(self.violations(genomes, rule))
                if not rows.size:
                    continue
                changed = True
                if both_genes:
                    for cols in (rule.cols_a, rule.cols_b):
                        genomes[rows, cols.start + blocks] = rng.integers(0, self.space.cardinality[cols][blocks])
                else:
                    draw = rng.integers(0, self.space.cardinality[rule.cols_b][blocks] - 1)
                    draw[draw >= rule.index_b] += 1  # skip the forbidden index, uniform over the rest
                    genomes[rows, rule.cols_b.start + blocks] = draw
        return genomes

def sample(space: SearchSpace, n: int, rng: np.random.Generator, rules: Rules | None = None) -> np.ndarray:
    """``n`` genomes drawn uniformly over all valid genomes, int64 (n, n_genes).

    Rules are per block and independent across blocks, so re-drawing a whole offending block
    pair until it is valid (rejection) keeps the distribution uniform over valid genomes.
    """
    genomes = rng.integers(0, space.cardinality, size=(n, space.n_genes))
    return rules.redraw_pairs(genomes, rng) if rules else genomes

def mutate(space: SearchSpace, genomes: np.ndarray, rng: np.random.Generator, prob: float,
           rules: Rules | None = None) -> np.ndarray:
    """Copy of ``genomes`` (N, n_genes) with each gene re-drawn uniformly with probability ``prob``."""
    out = np.array(genomes, dtype=np.int64, copy=True)
    mask = rng.random(out.shape) < prob
    fresh = rng.integers(0, space.cardinality, size=out.shape)
    out[mask] = fresh[mask]
    return rules.repair(out, rng) if rules else out


def crossover(parents_a: np.ndarray, parents_b: np.ndarray, rng: np.random.Generator,
              rules: Rules | None = None) -> np.ndarray:
    """Uniform crossover: each gene of child i comes from ``parents_a[i]`` or ``parents_b[i]``."""
    take_a = rng.random(parents_a.shape) < 0.5
    child = np.where(take_a, parents_a, parents_b).astype(np.int64)
    return rules.repair(child, rng) if rules else child


#: Characters of the text form of a genome: each choice index in base 62.
GENOME_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGIT_OF = np.full(256, -1, dtype=np.int64)
_DIGIT_OF[np.frombuffer(GENOME_ALPHABET, dtype=np.uint8)] = np.arange(len(GENOME_ALPHABET))


def genome_text_width(space: SearchSpace) -> int:
    """Characters per gene in :func:`genomes_to_text` (1 while no gene has more than 62 choices)."""
    width, base = 1, len(GENOME_ALPHABET)
    while base**width < int(space.cardinality.max()):
        width += 1
    return width


def genomes_to_text(space: SearchSpace, genomes: np.ndarray) -> np.ndarray:
    """Text form of genomes (N, n_genes): (N,) strings of ``n_genes * width`` base-62 digits, one
    fixed-width choice index per gene in gene order (``width`` from :func:`genome_text_width`).

    Lossless, unlike :func:`apq.space.spec.genome_string`: :func:`genomes_from_text` reads it back.
    """
    genomes = np.atleast_2d(np.asarray(genomes, dtype=np.int64))
    width, base = genome_text_width(space), len(GENOME_ALPHABET)
    digits = genomes if width == 1 else genomes[..., None] // base ** np.arange(width - 1, -1, -1) % base
    chars = np.frombuffer(GENOME_ALPHABET, dtype=np.uint8)[digits].reshape(len(genomes), space.n_genes * width)
    return np.ascontiguousarray(chars).view(f"S{chars.shape[1]}").ravel().astype(str)


def genomes_from_text(space: SearchSpace, texts) -> np.ndarray:
    """Genomes int64 (N, n_genes) of texts written by :func:`genomes_to_text`; ValueError names
    the first text that is not one of this space's genomes."""
    texts = list(map(str, texts))
    width, length = genome_text_width(space), space.n_genes * genome_text_width(space)
    joined = "".join(texts)
    if set(map(len, texts)) - {length} or not joined.isascii():
        i = next(i for i, t in enumerate(texts) if len(t) != length or not t.isascii())
        raise ValueError(f"genome text {i} ({texts[i]!r}) is not {length} base-62 digits of space '{space.name}'")
    raw = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    digits = _DIGIT_OF[raw].reshape(len(texts), space.n_genes, width)
    place = len(GENOME_ALPHABET) ** np.arange(width - 1, -1, -1)
    genomes = digits[..., 0] if width == 1 else (digits * place).sum(axis=2)
    bad = np.flatnonzero(np.any(digits < 0, axis=(1, 2)) | np.any(genomes >= space.cardinality, axis=1))
    if bad.size:
        raise ValueError(f"genome text {bad[0]} ({texts[bad[0]]!r}) is not a genome of space '{space.name}'")
    return genomes.reshape(len(texts), space.n_genes)
