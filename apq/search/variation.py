"""Variation operators of the searches over whole populations, optionally with frozen genes.

Built on the space's vectorised operators (:mod:`apq.space.genome`): uniform sampling over valid
genomes and uniform crossover come from there; mutation is APQ's block mutation (each block's six
genes, and each stage's depth, are re-drawn together with probability ``block_prob``). Frozen
genes (the baselines: uniform 8-bit, a fixed architecture, ...) hold their value through every
operator; floored genes (the joint search's bit floors: every bit width at 4 or wider, ...) only
ever take choices at or above their floor, drawn uniformly there. The target's rules are repaired
by re-drawing the *free* gene of an offending pair within its floor, so every genome returned is
valid and honours the freeze and the floors.
"""
from __future__ import annotations

import numpy as np

from apq.space.genome import Rules, crossover, sample
from apq.space.space import BLOCK_GENES, SearchSpace


class Variation:
    """Sampling, block mutation and crossover of valid genomes with ``frozen`` {column: choice index}
    and ``floors`` {column: lowest choice index allowed}."""

    def __init__(self, space: SearchSpace, rules: Rules, frozen: dict[int, int] | None = None,
                 floors: dict[int, int] | None = None):
        self.space, self.rules = space, rules
        self.low = np.zeros(space.n_genes, dtype=np.int64)
        for col, index in (floors or {}).items():
            self.low[col] = index
        self.floored = bool(self.low.any())
        frozen = dict(frozen or {})
        self.frozen_cols = np.asarray(sorted(frozen), dtype=np.int64)
        self.frozen_values = np.asarray([frozen[c] for c in self.frozen_cols], dtype=np.int64)
        self.frozen_mask = np.zeros(space.n_genes, dtype=bool)
        self.frozen_mask[self.frozen_cols] = True
        self.gene_group, self.gene_kind = self._gene_groups(space), self._gene_kinds(space)
        self.is_depth = np.zeros(space.n_genes, dtype=bool)
        self.is_depth[space.slices["depth"]] = True
        self._check_frozen()

    @staticmethod
    def _gene_groups(space: SearchSpace) -> np.ndarray:
        """Mutation group of each gene, (n_genes,): stage s for depth genes, S + b for block b's genes."""
        groups = np.empty(space.n_genes, dtype=np.int64)
        groups[space.slices["depth"]] = np.arange(space.n_stages)
        for gene in BLOCK_GENES:
            groups[space.slices[gene]] = space.n_stages + np.arange(space.n_blocks)
        return groups

    @staticmethod
    def _gene_kinds(space: SearchSpace) -> np.ndarray:
        """Position of each gene among its block's BLOCK_GENES, (n_genes,); 0 for depth genes."""
        kinds = np.zeros(space.n_genes, dtype=np.int64)
        for j, gene in enumerate(BLOCK_GENES):
            kinds[space.slices[gene]] = j
        return kinds

    def _check_frozen(self) -> None:
        card = self.space.cardinality[self.frozen_cols]
        if np.any((self.frozen_values < self.low[self.frozen_cols]) | (self.frozen_values >= card)):
            raise ValueError("a frozen gene holds a choice index outside its range or below its floor")
        if np.any(self.low >= self.space.cardinality) or np.any(self.low < 0):
            raise ValueError("a gene's floor leaves it no choice")
        probe = self._freeze(np.zeros((1, self.space.n_genes), dtype=np.int64))
        for rule in self.rules.compiled:
            both = self.frozen_mask[rule.cols_a] & self.frozen_mask[rule.cols_b]
            if np.any(both & self.rules.violations(probe, rule)[0]):
                raise ValueError("frozen genes form a combination the target forbids")

    def _freeze(self, genomes: np.ndarray) -> np.ndarray:
        genomes[:, self.frozen_cols] = self.frozen_values
        return genomes

    def _raise_floors(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Re-draw every gene below its floor uniformly at or above it (in place): a uniform draw
        over the whole range followed by this is uniform over the allowed choices."""
        if not self.floored:
            return genomes
        rows, cols = np.nonzero(genomes < self.low)
        span = self.space.cardinality[cols] - self.low[cols]
        genomes[rows, cols] = self.low[cols] + (rng.random(len(rows)) * span).astype(np.int64)
        return genomes

    def _finish(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Apply the freeze and the floors, then repair rule violations (in place); returns the valid genomes."""
        if not self.frozen_cols.size and not self.floored:
            return self.rules.repair(genomes, rng)
        return self._repair_free_gene(self._raise_floors(self._freeze(genomes), rng), rng)

    def _repair_free_gene(self, genomes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # As Rules.repair, but when gene b of a pair is frozen (or has no other allowed choice),
        # gene a is re-drawn instead, and every re-draw stays at or above the gene's floor.
        card, low, changed = self.space.cardinality, self.low, True
        while changed:
            changed = False
            for rule in self.rules.compiled:
                rows, blocks = np.nonzero(self.rules.violations(genomes, rule))
                if not rows.size:
                    continue
                changed = True
                col_b = rule.cols_b.start + blocks
                b_stuck = self.frozen_mask[col_b] | (card[col_b] - low[col_b] - (rule.index_b >= low[col_b]) < 1)
                cols = np.where(b_stuck, rule.cols_a.start + blocks, col_b)
                skip = np.where(b_stuck, rule.index_a, rule.index_b)
                skip_allowed = skip >= low[cols]
                draw = rng.integers(low[cols], card[cols] - skip_allowed)
                draw[skip_allowed & (draw >= skip)] += 1  # uniform over the gene's other allowed choices
                genomes[rows, cols] = draw
        return genomes

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random valid genomes, int64 (n, n_genes)."""
        return self._finish(sample(self.space, n, rng, self.rules), rng)

    def mutate(self, genomes: np.ndarray, rng: np.random.Generator, block_prob: float,
               genes_per_block: int = 1) -> np.ndarray:
        """Block mutation: each stage's depth and each block are hit with probability ``block_prob``;
        a hit block re-draws ``genes_per_block`` of its six genes, chosen at random (6: all of
        them, APQ's operator). Returns new valid genomes (N, n_genes)."""
        n, sp = len(genomes), self.space
        groups = sp.n_stages + sp.n_blocks
        hit = (rng.random((n, groups)) < block_prob)[:, self.gene_group]
        if genes_per_block == 1:
            pick = rng.integers(0, len(BLOCK_GENES), size=(n, groups))
            hit &= (pick[:, self.gene_group] == self.gene_kind) | self.is_depth
        elif genes_per_block < len(BLOCK_GENES):
            rank = rng.random((n, groups, len(BLOCK_GENES))).argsort(axis=2).argsort(axis=2)
            hit &= (rank[:, self.gene_group, self.gene_kind] < genes_per_block) | self.is_depth
        rows, cols = np.nonzero(hit)
        out = np.array(genomes, dtype=np.int64, copy=True)
        out[rows, cols] = (rng.random(len(rows)) * sp.cardinality[cols]).astype(np.int64)  # uniform re-draw
        return self._finish(out, rng)

    def crossover(self, parents_a: np.ndarray, parents_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform crossover of row pairs (the space's operator), then freeze and repair."""
        return self._finish(crossover(parents_a, parents_b, rng), rng)
