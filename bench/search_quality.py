"""Search quality after verification: joint search vs baselines on fmnist, measured for real.

    .venv/bin/python bench/search_quality.py [--preset default] [--targets fpga bitfusion] [--jobs 2]

Needs the upstream artifacts of the preset (``make predictor``: supernet, samples, predictors).
For each target and two latency budgets (tight: the 10th percentile of the latency of 1000
random valid genomes, loose: the 75th percentile) it runs ``apq search --baselines`` and
``apq verify`` (the test split, the preset's fine-tune), then writes
``results/bench/search_quality.json`` with, per case, the joint winner's predicted and measured
accuracy and each baseline's, and the issue's two checks: the joint winner measures at least as
well as the sequential and uniform-8-bit winners, and |predicted - measured| <= 1.5 points.
Runs are named ``quality-<budget>-s<seed>``: a rerun reuses finished searches and resumes
verification where it stopped.
"""
from __future__ import annotations

import json

import numpy as np
from joblib import Parallel, delayed

from apq.cli import main as apq
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.io import write_json
from apq.report import bench_arguments
from apq.search.outputs import results_dir
from apq.space.genome import Rules, sample
from apq.space.registry import create_space

BUDGETS = {"tight": 0.10, "loose": 0.75}
SPACE = "fmnist"


def latency_quantile(target_name: str, q: float, seed: int) -> float:
    space, target = create_space(SPACE), create_target(target_name)
    genomes = sample(space, 1000, np.random.default_rng(seed), Rules(space, target.forbidden))
    return float(np.quantile(CostTable(space, target).evaluate(genomes).latency_ms, q))


def run_case(target: str, budget: str, preset: str, seed: int, threads: int) -> dict:
    limit = round(latency_quantile(target, BUDGETS[budget], seed), 4)
    name = f"quality-{budget}-s{seed}"
    run_dir = results_dir(SPACE, target) / name
    if not (run_dir / "best.json").exists():
        code = apq(["search", "--space", SPACE, "--target", target, "--preset", preset, "--latency", str(limit),
                    "--seed", str(seed), "--baselines", "--run", name])
        if code:
            return {"target": target, "budget": budget, "latency_limit_ms": limit, "error": f"search exit {code}"}
    if apq(["verify", str(run_dir), "--space", SPACE, "--preset", preset, "--threads", str(threads)]):
        return {"target": target, "budget": budget, "latency_limit_ms": limit, "error": "verify failed"}
    report = json.loads((run_dir / "verify.json").read_text())
    return summarise(target, budget, limit, report)


def summarise(target: str, budget: str, limit: float, report: dict) -> dict:
    def entry(r):
        return {k: r[k] for k in ("predicted_acc", "measured_acc", "latency_ms", "energy_mj")}

    baselines = {name: entry(r) for name, r in report["baselines"].items()}
    joint = entry(report)
    rivals = [baselines[n]["measured_acc"] for n in ("sequential", "uniform_w8a8") if n in baselines]
    return {"target": target, "budget": budget, "latency_limit_ms": limit, "joint": joint, "baselines": baselines,
            "joint_measures_at_least_sequential_and_w8a8": bool(rivals) and joint["measured_acc"] >= max(rivals),
            "joint_abs_error": abs(joint["predicted_acc"] - joint["measured_acc"]),
            "joint_abs_error_within_1_5": abs(joint["predicted_acc"] - joint["measured_acc"]) <= 1.5}


def main() -> None:
    parser = bench_arguments(__doc__, "search_quality")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+", default=["fpga", "bitfusion"])
    parser.add_argument("--jobs", type=int, default=1, help="cases run in parallel processes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each verification")
    args = parser.parse_args()
    cases = Parallel(n_jobs=args.jobs)(delayed(run_case)(t, b, args.preset, args.seed, args.threads)
                                       for t in args.targets for b in BUDGETS)
    write_json(args.out, {"space": SPACE, "preset": args.preset, "seed": args.seed, "budgets": BUDGETS, "cases": cases})
    print(f"{'target':<10} {'budget':<6} {'limit ms':>8}  {'joint pred':>10} {'joint meas':>10} "
          f"{'seq meas':>8} {'w8a8 meas':>9}  checks")
    for c in cases:
        if "error" in c:
            print(f"{c['target']:<10} {c['budget']:<6} {c['latency_limit_ms']:>8.4g}  {c['error']}")
            continue
        meas = {n: c["baselines"].get(n, {}).get("measured_acc", float("nan")) for n in ("sequential", "uniform_w8a8")}
        print(f"{c['target']:<10} {c['budget']:<6} {c['latency_limit_ms']:>8.4g}  {c['joint']['predicted_acc']:>10.2f} "
              f"{c['joint']['measured_acc']:>10.2f} {meas['sequential']:>8.2f} {meas['uniform_w8a8']:>9.2f}  "
              f"{'ok' if c['joint_measures_at_least_sequential_and_w8a8'] else 'BELOW'} / "
              f"{'ok' if c['joint_abs_error_within_1_5'] else 'ERR>1.5'}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
