"""Sensitivity prior benchmark: does a one-layer-at-a-time quantization scan of the supernet help the
quantization-aware predictor rank quantized sub-nets?

    APQ_ROOT=<root> .venv/bin/python bench/sensitivity.py [--space fmnist] [--preset default] [--images 2000]

Needs the root's supernet and both sample files (``make samples``).

1. Scan (:func:`apq.quant.sensitivity.scan`): the largest sub-net at the widest bits, and each bit
   gene of each block alone at each narrower width, measured with the preset's quantization settings
   and no fine-tune on a seeded subset of ``--images`` validation images. ``--scan FILE`` reuses the
   scan of an earlier output of this script instead.
2. On the predictor stage's own split of the quantized samples (same training pool and held-out
   test rows, same fp32 predictor, fitted as ``apq predictor`` fits it), the linear structured drop
   is fitted twice on the accuracy label: started constant (``structured_linear``, the stage's model)
   and started from the scan (``structured_prior``). Both are scored by the stage's cross-validation
   on the pool (:func:`apq.predictor.quant_models.select`'s folds and score) and on the held-out
   test rows (pairwise and cost-matched pairwise accuracy with 95 % bootstrap intervals, and the
   paired difference prior minus constant). ``prior_only`` is the scan's fit before any training,
   ``bits_ignored`` the reference every quantization-aware model must beat.

Writes ``results/bench/sensitivity.json``.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from apq.io import write_json
from apq.nn.runtime import pick_device, torch_threads
from apq.predictor.build import chance_accuracy, cost_table, fit_and_test, make_task
from apq.predictor.config import get_predictor_config
from apq.predictor.estimator import MLPPredictor
from apq.predictor.quant_models import folds, validation_score
from apq.predictor.structured import BitsIgnoredPredictor, StructuredQuantPredictor
from apq.predictor.train import predict_array
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.quant.sensitivity import prior_weights, scan
from apq.report import bench_arguments
from apq.samples.data import load_sample_data
from apq.space.encoding import Encoder
from apq.space.registry import create_space
from apq.supernet.checkpoint import load_supernet, supernet_path

MODELS = ("bits_ignored", "structured_linear", "structured_prior")


def run_scan(space, preset, images: int, data_dir: str | None) -> dict:
    """The supernet's scan on ``images`` validation images (JSON-ready: drop as nested lists)."""
    supernet, _ = load_supernet(space, supernet_path(space.name), pick_device())
    data = load_sample_data(space, preset, data_dir).with_val_subset(images, preset.seed)
    result = scan(supernet, data, get_quant_config(preset.name))
    return {**result, "drop": np.round(result["drop"], 4).tolist(), "seconds": round(result["seconds"], 1)}


def model(name: str, fp32: MLPPredictor, fp32_dim: int, floor: float, config, seed: int, prior: np.ndarray):
    """An unfitted model of :data:`MODELS` (the structured ones with the stage's drop settings)."""
    if name == "bits_ignored":
        return BitsIgnoredPredictor(fp32_dim, fp32)
    return StructuredQuantPredictor(fp32_dim, fp32, drop="linear", floor=floor, seed=seed,
                                    prior=prior if name == "structured_prior" else None, **config.drop_params())


def cross_validated(task, make, config, seed: int) -> dict:
    """Each model's mean fold score on the pool (the stage's folds and score, accuracy label)."""
    X, y = task.data.rows(task.pool)
    latency = task.latency_ms[task.pool]
    scores: dict[str, list[dict]] = {name: [] for name in MODELS}
    for part in folds(len(y), config.selection_folds, seed):
        fit_rows = np.setdiff1d(np.arange(len(y)), part)
        for name in MODELS:
            prediction = make(name).fit(X[fit_rows], y[fit_rows]).predict(X[part])
            scores[name].append(validation_score(y[part], latency[part], prediction, config.cost_match_tolerance))
    return {name: {key: float(np.nanmean([s[key] for s in runs])) for key in runs[0]} for name, runs in scores.items()}


def held_out(task, make) -> tuple[dict, dict]:
    """Each model fitted on the whole pool, measured on the test rows; and the prior's start alone.
    Returns ``(reports, predictions on the test rows)``."""
    reports, predictions = {}, {}
    X_test = task.test_xy()[0]
    for name in MODELS:
        estimator = make(name)
        reports[name] = fit_and_test(estimator, task, task.pool)
        predictions[name] = estimator.predict(X_test)
    start = make("structured_prior")._initial_network(*task.data.rows(task.pool))
    predictions["prior_only"] = predict_array(start, X_test, torch.device("cpu"))
    reports["prior_only"] = task.held_out.report(predictions["prior_only"])
    return reports, predictions


def main() -> int:
    parser = bench_arguments(__doc__, "sensitivity")
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--images", type=int, default=2000, help="validation images each probe is measured on")
    parser.add_argument("--scan", help="reuse the scan of an earlier output JSON of this script")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    space, preset = create_space(args.space), get_preset(args.preset)
    config = get_predictor_config(preset.name)
    started = time.perf_counter()
    with torch_threads(config.num_threads):
        if args.scan:
            scanned = json.loads(Path(args.scan).read_text())["scan"]
        else:
            scanned = run_scan(space, preset, args.images, args.data_dir)
        print(f"scan: base {scanned['base_acc']:.2f} %, {scanned['seconds']} s", flush=True)
        prior = prior_weights(space, np.asarray(scanned["drop"]))
        table, seed = cost_table(space, config), preset.seed
        tasks = {kind: make_task(space, kind, config, seed, table) for kind in ("fp32", "quant")}
        fp32 = MLPPredictor(seed=seed, **config.mlp_params())
        fit_and_test(fp32, tasks["fp32"], tasks["fp32"].pool)
        fp32_dim, floor = Encoder(space).fp32_dim, chance_accuracy(space)

        def make(name):
            return model(name, fp32, fp32_dim, floor, config, seed, prior)

        cv = cross_validated(tasks["quant"], make, config, seed)
        reports, predictions = held_out(tasks["quant"], make)
    quant = tasks["quant"]
    report = {"space": space.name, "preset": preset.name, "scan": scanned, "cross_validation": cv, "test": reports,
              "prior_minus_linear": quant.held_out.difference(predictions["structured_prior"],
                                                              predictions["structured_linear"]),
              "n_pool": len(quant.pool), "n_test": len(quant.test), "folds": config.selection_folds,
              "seconds": round(time.perf_counter() - started, 1), "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(args.out, report)
    for name, r in reports.items():
        print(f"{name}: test pairwise {r['pairwise_acc']:.3f}, cost-matched {r['pairwise_acc_cost_matched']:.3f}; "
              f"cv {cv[name]['score']:.3f}" if name in cv else f"{name}: test pairwise {r['pairwise_acc']:.3f}")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
