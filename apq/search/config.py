"""Search settings: a typed, validated dataclass and one named instance per preset.

The genetic search follows APQ's evolution finder (population 100, the top quarter are parents,
each generation 50 mutation and 50 crossover children, block mutation probability 0.1), without
its two defects: the whole random seed population is kept and evaluated, and crossover children
join the population. NSGA-II (the Pareto front) and every baseline use the same population,
offspring and generation counts, so all of them spend the same number of predictor queries.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for


@dataclass(frozen=True)
class SearchConfig(Settings):
    """Sizes of the genetic searches. Counts are candidates; probabilities are per block / stage."""

    what = "search setting"

    name: str
    population: int = 100
    #: Share of the population kept as parents each generation (APQ: a quarter).
    parent_fraction: float = 0.25
    mutation_children: int = 50
    crossover_children: int = 50
    #: Probability that a block's genes (kernel, channels, 4 bit widths) or a stage's depth are
    #: re-drawn in a mutation child (APQ's ``block_mutation_prob``).
    block_mutation_prob: float = 0.1
    #: Genes re-drawn in a hit block, chosen at random among its six (6 = APQ's whole block; see
    #: :mod:`apq.search.variation` for why the default is 1).
    genes_per_block: int = 1
    #: Generations of every search (joint GA, NSGA-II, each baseline) after the seed population.
    generations: int = 300
    #: Random valid genomes drawn (cost only, no predictor query) per seed-population slot; the
    #: feasible ones are preferred, so the seed population is feasible whenever that is reachable.
    seed_pool: int = 10
    #: Children made and costed (no predictor query) per child slot; the feasible ones are
    #: queried first, an infeasible one only when a slot has none (and ranks behind all feasible).
    child_pool: int = 2
    #: Random valid genomes whose median cost is the default budget of an unconstrained run.
    default_budget_samples: int = 1000
    #: torch intra-op threads while searching (0: leave torch's setting). One: on the predictor's
    #: batches of ~100 rows threads cost more in synchronisation than they save.
    torch_threads: int = 1
    #: Distinct feasible candidates of each method (the joint search and every baseline), best
    #: predicted first, measured on the validation split with the quantized samples' procedure;
    #: the best measured one is the method's winner (the predictor's argmax over a large space is
    #: over-predicted: the winner's curse). 1 = the predicted best, nothing measured. 4 is
    #: provisional, to be chosen with ``bench/search_quality.py --rerank-k 1 4 8``.
    rerank_k: int = 4
    #: Genes (of canonical genomes) in which every two sub-nets of a shortlist differ at least.
    #: 1: any two distinct sub-nets. 16 (a quarter of fmnist's 64 genes) spreads the k
    #: measurements over regions of the space instead of near copies of the predicted winner,
    #: whose prediction errors they share (pilot in docs/decisions.md).
    rerank_min_distance: int = 16
    #: When re-ranking (``rerank_k`` > 1), the joint search also runs its GA with every bit width
    #: held at each of these floors or wider (4: a mixed policy over 4, 6 and 8 bits), splitting
    #: the GA's query budget evenly, and gives each floor an equal share of the k measurements.
    #: A hedge against the predictor's errors at the narrowest widths, which the unrestricted GA
    #: seeks out (docs/decisions.md); empty: the unrestricted GA alone.
    rerank_bit_floors: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        problems = [f"{f} must be >= 1" for f in ("population", "mutation_children", "crossover_children",
                                                  "seed_pool", "child_pool", "default_budget_samples", "rerank_k",
                                                  "rerank_min_distance")
                    if getattr(self, f) < 1]
        problems += [f"{f} must be >= 0" for f in ("generations", "torch_threads") if getattr(self, f) < 0]
        if not 0 < self.parent_fraction <= 1 or self.n_parents < 2:
            problems.append("parent_fraction must be in (0, 1] and leave at least 2 parents")
        if not 0 < self.block_mutation_prob <= 1:
            problems.append("block_mutation_prob must be in (0, 1]")
        if list(self.rerank_bit_floors) != sorted(set(self.rerank_bit_floors)) or \
                any(b < 1 for b in self.rerank_bit_floors):
            problems.append("rerank_bit_floors must be distinct positive bit widths in increasing order")
        if not 1 <= self.genes_per_block <= 6:
            problems.append("genes_per_block must be in 1..6")
        if problems:
            raise ValueError(f"invalid search config '{self.name}': {'; '.join(problems)}")

    @property
    def n_parents(self) -> int:
        return int(self.population * self.parent_fraction)

    @property
    def children(self) -> int:
        """Candidates queried per generation."""
        return self.mutation_children + self.crossover_children

    @property
    def queries(self) -> int:
        """Predictor queries of one search: the seed population plus every generation's children."""
        return self.population + self.generations * self.children


SEARCH_PRESETS = {
    "smoke": SearchConfig("smoke", population=40, mutation_children=20, crossover_children=20, generations=8,
                          default_budget_samples=200, rerank_k=2, rerank_min_distance=1),
    "default": SearchConfig("default"),
    "full": SearchConfig("full", generations=600, default_budget_samples=5000),
}


def get_search_config(preset: str) -> SearchConfig:
    """Search settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(SEARCH_PRESETS, preset, "search")
