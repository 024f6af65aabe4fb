"""Predictor benchmark: wall time of ``apq predictor`` and its held-out quality against the issue's targets.

    .venv/bin/python bench/predictor.py [--space fmnist] [--preset default] [--synthetic]

Copies ``data/<space>/samples_{fp32,quant}.h5`` (and their ``_retest`` files) into a temporary project root (so the real
``predictors/`` are left alone), times ``apq predictor --force`` there as a subprocess (imports
included, as ``make predictor`` runs it), and writes ``results/bench/predictor.json`` with the
metrics and each target of issue 16: fp32 Kendall tau >= 0.8; the selected quantization-aware
predictor's pairwise accuracy >= 0.88, and its pairwise and cost-matched pairwise accuracy >= the
bits-ignored reference's + 0.05; transfer beats scratch at 25 and 50 quantized samples; at least
100 held-out quantized samples; a couple of minutes. Every figure in metrics.json carries its 95 %
bootstrap interval.

``--synthetic`` uses SYNTHETIC sample files instead (1000 fp32 + 400 quant rows;
:mod:`apq.predictor.synthetic`, whose quantized accuracy falls steeply at 2 bits), and also reports
the noise-free function's own scores on the test split, the best any predictor can do there. Its
figures say nothing about real sub-nets.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from apq.io import project_root, write_json
from apq.predictor.data import load_dataset, sample_path
from apq.predictor.metrics import evaluate
from apq.predictor.prior import scan_file
from apq.predictor.synthetic import fp32_accuracy, quantized_accuracy, write_synthetic_samples
from apq.report import bench_arguments
from apq.samples.store import read_samples
from apq.space.registry import create_space
from apq.stages.layout import retest_path
from apq.supernet.checkpoint import supernet_path

SYNTHETIC_ROWS = {"fp32": 1000, "quant": 400}
#: Wall-time target of the stage: "a couple of minutes".
WALL_TARGET_S = 180


def prepare_root(space, root: Path, synthetic: bool) -> None:
    """Sample files of ``space`` under ``root/data/<space>/``: copies of the real ones (and of their
    retest files) and the supernet (the sensitivity scan reads it), or synthetic samples alone."""
    folder = root / "data" / space.name
    folder.mkdir(parents=True, exist_ok=True)
    for kind, rows in SYNTHETIC_ROWS.items():
        if synthetic:
            write_synthetic_samples(space, folder / f"samples_{kind}.h5", kind, rows)
        else:
            shutil.copy(sample_path(space.name, kind), folder / f"samples_{kind}.h5")
            if retest_path(space.name, kind).exists():
                shutil.copy(retest_path(space.name, kind), folder / retest_path(space.name, kind).name)
    if not synthetic:
        shutil.copy(supernet_path(space.name), folder / "supernet.pt")


def reuse_scan(space, root: Path) -> None:
    """A copy of this project's kept sensitivity scan under ``root``: the stage reuses it when it
    was made from the same supernet and settings (and scans again otherwise)."""
    kept = scan_file(space.name)
    if not kept.is_file():
        raise SystemExit(f"--reuse-scan: no kept scan at {kept}; run 'apq predictor' first")
    target = root / kept.relative_to(project_root())
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(kept, target)


def run_stage(space_name: str, preset: str, root: Path, synthetic: bool, force: bool = True) -> float:
    """Wall seconds of ``python -m apq predictor --force`` in ``root`` (without ``--force`` when
    ``force`` is False, so that a copied scan is reused; SYNTHETIC samples: no supernet to scan,
    so without the sensitivity prior)."""
    env = {**os.environ, "APQ_ROOT": str(root)}
    extra = ["--set", "predictor.sensitivity_images=0"] if synthetic else []
    extra += ["--force"] if force else []
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "apq", "predictor", "--space", space_name, "--preset", preset, *extra],
                   check=True, env=env, cwd=root)
    return time.perf_counter() - start


def oracle(space, root: Path, metrics: dict) -> dict:
    """Scores of the noise-free synthetic function on each test split (the ceiling)."""
    out = {}
    os.environ["APQ_ROOT"] = str(root)
    for kind in ("fp32", "quant"):
        data = load_dataset(space, kind)
        genomes = read_samples(data.path).genome
        test = np.isin(data.index, metrics["test_index"][kind])
        truth = (quantized_accuracy if kind == "quant" else fp32_accuracy)(space, genomes[test])
        out[kind] = evaluate(data.y[test], truth)
    return out


def targets(metrics: dict, wall: float, scan_reused: bool = False) -> dict:
    """Issue 16's predictor targets, each True / False (None where a figure is missing; the wall
    time's where the kept scan was reused, since the stage's first build scans)."""
    quant = metrics["quant"]
    selected, reference = quant[quant["selected"]], quant["bits_ignored"]
    curve = {point["n_train"]: point for point in metrics["quant_budget_curve"]}

    def at_least(value, bound):
        return None if value is None or bound is None else bool(value >= bound)

    checks = {"fp32_kendall_tau >= 0.8": at_least(metrics["fp32"]["kendall_tau"], 0.8),
              f"selected ({quant['selected']}) pairwise_acc >= 0.88": at_least(selected["pairwise_acc"], 0.88)}
    for figure in ("pairwise_acc", "pairwise_acc_cost_matched"):
        bound = None if reference[figure] is None else reference[figure] + 0.05
        checks[f"selected {figure} >= bits_ignored + 0.05"] = at_least(selected[figure], bound)
    for budget in (25, 50):
        point = curve.get(budget)
        checks[f"transfer beats scratch at n_train={budget} (pairwise acc)"] = None if point is None else bool(
            point["transfer"]["pairwise_acc"] > point["scratch"]["pairwise_acc"])
    checks["held-out quantized samples >= 100"] = selected["n_test"] >= 100
    checks[f"a couple of minutes (<= {WALL_TARGET_S} s wall)"] = None if scan_reused else wall <= WALL_TARGET_S
    return checks


def main() -> None:
    parser = bench_arguments(__doc__, "predictor")
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--synthetic", action="store_true", help="SYNTHETIC sample files instead of data/<space>/")
    parser.add_argument("--reuse-scan", action="store_true",
                        help="reuse this project's kept sensitivity scan (the wall time then excludes the scan)")
    args = parser.parse_args()
    space = create_space(args.space)
    load_avg = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="apq-bench-predictor-") as tmp:
        root = Path(tmp)
        prepare_root(space, root, args.synthetic)
        if args.reuse_scan:
            reuse_scan(space, root)
        wall = run_stage(space.name, args.preset, root, args.synthetic, force=not args.reuse_scan)
        metrics = json.loads((root / "predictors" / space.name / "metrics.json").read_text())
        report = {"synthetic": args.synthetic, "space": space.name, "preset": args.preset,
                  "wall_seconds": round(wall, 1), "stage_seconds": metrics["seconds"], "device": metrics["device"],
                  "cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_avg],
                  "scan_reused": args.reuse_scan, "samples": metrics["inputs"]["samples"],
                  "targets": targets(metrics, wall, args.reuse_scan),
                  **{k: metrics[k] for k in ("fp32", "quant", "quant_selection", "quant_budget_curve", "baselines",
                                             "label_reliability", "sensitivity")},
                  "created": time.strftime("%Y-%m-%d %H:%M:%S")}
        if args.synthetic:
            report["synthetic_ceiling"] = oracle(space, root, metrics)
    write_json(args.out, report)
    print(json.dumps(report["targets"], indent=1))
    print(args.out)


if __name__ == "__main__":
    main()
