"""``apq space``: describe a search space, and draw random valid genomes with their costs."""
from __future__ import annotations

import json

import numpy as np

from apq.commands.common import add_common, non_negative_int


def add_parser(sub) -> None:
    p = sub.add_parser("space", help="describe a search space; --sample N draws random genomes")
    add_common(p, preset=False)
    p.add_argument("--sample", type=non_negative_int, default=0, metavar="N", help="draw N random valid genomes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--target", help="cost the sampled genomes on this target (and respect its rules)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.space.encoding import Encoder
    from apq.space.registry import create_space

    space = create_space(args.space)
    encoder = Encoder(space)
    summary = {**space.describe(), "encoding_dim": encoder.dim, "fp32_dim": encoder.fp32_dim,
               "blocks": [vars(b) for b in space.blocks],
               "log10_size": float(np.log10(space.cardinality.astype(float)).sum())}
    if args.sample <= 0:
        print(json.dumps(summary, indent=1))
        return 0
    _print_samples(space, args)
    return 0


def _print_samples(space, args) -> None:
    from apq.errors import UserError
    from apq.hardware.cost import CostTable
    from apq.hardware.target import create_target
    from apq.space.genome import Rules, sample
    from apq.space.spec import genome_string

    if args.sample > 100_000:
        raise UserError(f"--sample {args.sample} is too many to print; use at most 100000")
    target = create_target(args.target, space=space.name) if args.target else None
    rules = Rules(space, target.forbidden if target else ())
    genomes = sample(space, args.sample, np.random.default_rng(args.seed), rules)
    costs = CostTable(space, target).evaluate(genomes) if target else None
    for i, genome in enumerate(genomes):
        row = {"genome": genome.tolist(), "arch": genome_string(space, genome)}
        if costs is not None:
            row.update(latency_ms=float(costs.latency_ms[i]), energy_mj=_num(costs.energy_mj[i]),
                       bitops=float(costs.bitops[i]))
        print(json.dumps(row))


def _num(value: float):
    return None if not np.isfinite(value) else float(value)
