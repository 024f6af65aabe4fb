"""The search constraint: which cost metric is limited, to what, and which limits make sense.

A limit is refused (one-line :class:`UserError`) when it is not a positive finite number or lies
below the cheapest genome the space can reach on the target; the error states the feasible range
``[cheapest, most expensive]``, computed exactly from the cost table (no sampling).

Without a user limit the search uses a documented default budget: the median latency of
``default_budget_samples`` random valid genomes (seeded), so half of the random genomes fit.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from apq.errors import UserError
from apq.hardware.cost import CostTable
from apq.space.genome import Rules, sample

UNITS = {"latency_ms": "ms", "energy_mj": "mJ"}
FLAGS = {"latency_ms": "--latency", "energy_mj": "--energy"}
#: Order of the per-block option axes in :func:`block_option_costs`.
OPTION_AXES = ("kernel", "mid", "pw_w", "pw_a", "dw_w", "dw_a")


@dataclass(frozen=True)
class Constraint:
    """``metric`` (``latency_ms`` or ``energy_mj``) must be <= ``limit``; ``source`` says who chose it."""

    metric: str
    limit: float
    source: str = "user"

    def __post_init__(self) -> None:
        if self.metric not in UNITS:
            raise ValueError(f"constraint metric must be one of {sorted(UNITS)}, not {self.metric!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def front_costs(self) -> tuple[str, ...]:
        """Cost objectives of a front under this constraint: latency, and energy when it limits energy."""
        return ("latency_ms", "energy_mj") if self.metric == "energy_mj" else ("latency_ms",)


def block_option_costs(table: CostTable, rules: Rules, metric: int) -> np.ndarray:
    """Cost of every option of every block, (B, K, M, nb, nb, nb, nb) over :data:`OPTION_AXES`.

    ``metric`` is a column of the table (0 latency, 1 energy, 2 BitOps). Padded channel slots and
    combinations the target forbids are +inf, so they never count as reachable.
    """
    pw = table.pointwise[..., metric][:, None, :, :, :, None, None]
    dw = table.depthwise[..., metric][:, :, :, None, None, :, :]
    total = pw + dw
    total = np.where((table.space.mid_table > 0)[:, None, :, None, None, None, None], total, np.inf)
    for rule in rules.forbidden:
        index = [slice(None)] * total.ndim
        for gene, value in ((rule.gene_a, rule.value_a), (rule.gene_b, rule.value_b)):
            choices = table.space.kernel_choices if gene == "kernel" else table.space.bit_choices
            hits = np.flatnonzero(choices == value)
            if not hits.size:
                break
            index[1 + OPTION_AXES.index(gene)] = int(hits[0])
        else:
            total[tuple(index)] = np.inf
    return total


def cost_bounds(table: CostTable, rules: Rules, metric: str) -> tuple[float, float]:
    """Exact (cheapest, most expensive) network cost over all valid genomes, in the metric's unit."""
    column = ("latency_ms", "energy_mj", "bitops").index(metric)
    options = block_option_costs(table, rules, column).reshape(table.space.n_blocks, -1)
    cheapest = options.min(axis=1)
    dearest = np.where(np.isfinite(options), options, -np.inf).max(axis=1)
    space = table.space
    min_depth = np.asarray([d.min() for d in space.depth_choices])[space.block_stage]
    max_depth = np.asarray([d.max() for d in space.depth_choices])[space.block_stage]
    low = table.fixed[column] + cheapest[space.block_position < min_depth].sum()
    high = table.fixed[column] + dearest[space.block_position < max_depth].sum()
    return float(low), float(high)


def default_limit(table: CostTable, rules: Rules, metric: str, samples: int, seed: int) -> float:
    """Median ``metric`` of ``samples`` random valid genomes drawn with ``seed``."""
    genomes = sample(table.space, samples, np.random.default_rng(seed), rules)
    return float(np.median(table.evaluate(genomes).metric(metric)))


def check_metric(metric: str, table: CostTable) -> None:
    """Refuse an energy constraint on a target that cannot measure energy."""
    if metric == "energy_mj" and not table.target.has_energy:
        raise UserError(f"target '{table.target.name}' cannot measure energy; constrain --latency instead")


def resolve_constraint(table: CostTable, rules: Rules, latency_ms: float | None, energy_mj: float | None,
                       samples: int, seed: int) -> Constraint:
    """The run's constraint from the CLI values (at most one given), checked against the space.

    None given: the default budget (median latency of random valid genomes, see module docstring).
    """
    if latency_ms is not None and energy_mj is not None:
        raise UserError("give either --latency or --energy, not both (a single-constraint search)")
    if latency_ms is None and energy_mj is None:
        limit = default_limit(table, rules, "latency_ms", samples, seed)
        return Constraint("latency_ms", limit, f"default: median latency_ms of {samples} random valid genomes "
                                               f"(seed {seed})")
    metric, limit = ("latency_ms", latency_ms) if latency_ms is not None else ("energy_mj", energy_mj)
    check_metric(metric, table)
    low, high = cost_bounds(table, rules, metric)
    where = f"'{table.space.name}' on '{table.target.name}'"
    unit = UNITS[metric]
    if not math.isfinite(limit) or limit <= 0 or limit < low:
        raise UserError(f"{FLAGS[metric]} {limit:g} is infeasible for {where}: genomes cost "
                        f"{low:.6g} to {high:.6g} {unit}; choose a limit of at least {low:.6g} {unit}")
    return Constraint(metric, float(limit))
