"""Cost-model benchmark: genomes costed per second, and the BitFusion calibration fit.

    .venv/bin/python bench/cost.py [--repeats 7] [--n 100000]

Writes ``results/bench/cost.json``. Throughput is end to end for costing: sampling is excluded,
table lookup + sum over blocks for N genomes included; the median of several runs is reported
next to the minimum and maximum. The table build (once per space and target) is timed apart.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from apq.hardware.calibration import APQ_BITFUSION_TABLE, fit_report, load_reference
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.io import write_json
from apq.report import bench_arguments
from apq.space.genome import Rules, sample
from apq.space.registry import create_space

REFERENCE = APQ_BITFUSION_TABLE  # APQ's BitFusion entries, committed with the package (see its README)
CASES = (("imagenet-apq", "bitfusion"), ("fmnist", "bitfusion"), ("fmnist", "fpga"))


def throughput(space_name: str, target_name: str, n: int, repeats: int) -> dict:
    """Median genomes/s of ``CostTable.evaluate`` over ``repeats`` runs of ``n`` genomes."""
    space, target = create_space(space_name), create_target(target_name)
    start = time.perf_counter()
    table = CostTable(space, target)
    build_s = time.perf_counter() - start
    genomes = sample(space, n, np.random.default_rng(0), Rules(space, target.forbidden))
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        table.evaluate(genomes)
        rates.append(n / (time.perf_counter() - start))
    return {"space": space_name, "target": target_name, "n_genomes": n, "repeats": repeats,
            "genomes_per_s_median": statistics.median(rates), "genomes_per_s_min": min(rates),
            "genomes_per_s_max": max(rates), "seconds_per_100k_median": 1e5 / statistics.median(rates),
            "table_build_s": build_s}


def main() -> None:
    parser = bench_arguments(__doc__, "cost", repeats=7)
    parser.add_argument("--n", type=int, default=100_000)
    args = parser.parse_args()
    report = {"throughput": [throughput(s, t, args.n, args.repeats) for s, t in CASES]}
    if REFERENCE.exists():
        report["bitfusion_calibration"] = fit_report(create_target("bitfusion"), load_reference(REFERENCE))
    else:
        report["bitfusion_calibration"] = f"skipped: {REFERENCE} not found"
    write_json(args.out, report)
    for row in report["throughput"]:
        print(f"{row['space']:>13} / {row['target']:<9} {row['genomes_per_s_median']:>12,.0f} genomes/s "
              f"(100k in {row['seconds_per_100k_median'] * 1e3:.1f} ms; table built in {row['table_build_s']:.2f} s)")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
