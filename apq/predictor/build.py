"""The ``apq predictor`` stage: fit, test and save the fp32 and quantization-aware predictors.

Reads ``data/<space>/samples_{fp32,quant}.h5``, splits each into a training pool and a fixed
test split, fits the fp32 MLP, the transferred and the from-scratch quantization-aware MLPs,
the transfer-vs-scratch budget curve and the scikit-learn baselines, then writes
``predictors/<space>/fp32.pt``, ``quant.pt`` and ``metrics.json`` (last, so a complete
metrics.json means a complete run). Same sample files and settings as the last run: nothing to do.

``metrics.json`` (metrics as in docs/architecture.md, Measures, on test rows never used to fit or early-stop)::

    fp32, quant.transfer, quant.scratch   rmse (points), kendall_tau (tau-b), pairwise_acc, n_test,
                                          n_train (pool rows used, early-stopping share included),
                                          n_val (that share), best_epoch, epochs, fit_seconds
    quant_budget_curve   [{n_train, transfer: {...}, scratch: {...}}]: means over ``curve_seeds``
                         seeds (with ``*_std`` and n_seeds) at each budget, same test rows
    baselines            {fp32: {ridge, random_forest, gradient_boosting}, quant: {..., fp32_predictor
                         (the fp32 predictor on the fp32 part, bits ignored)}}
    label_reliability    {fp32, quant}.{accuracy, loss, p_correct}: split-half agreement of each label
                         kind on the test rows, and the tau / pairwise accuracy that a predictor knowing
                         its noise-free value would reach against their measured accuracies
                         (:func:`apq.predictor.metrics.label_reliability`)
    quant_menu_coverage  fewest appearances of a bit width at a layer position in the quantized
                         training pool (:func:`apq.predictor.data.menu_coverage`)
    test_index           sample indices of each test split;  inputs: what the run depended on
    space, encoding, device, seconds
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from apq.io import write_json
from apq.nn.runtime import pick_device, torch_threads
from apq.predictor.baselines import fit_baselines
from apq.predictor.config import PredictorConfig
from apq.predictor.data import Dataset, budget_rows, load_dataset, menu_coverage, split
from apq.predictor.estimator import MLPPredictor, QuantMLPPredictor, validation_split
from apq.predictor.load import predictor_dir, predictor_path, save_predictor
from apq.predictor.metrics import evaluate, label_reliabilities, mean_metrics
from apq.presets import Preset
from apq.space.encoding import Encoder
from apq.space.space import SearchSpace
from apq.stages.fresh import FRESH, Stamp, freshness, read_stamp, upstream_digests, write_stamp
from apq.stages.layout import sample_path
from apq.stages.lock import artifact_lock, check_not_busy

log = logging.getLogger(__name__)

#: Version of the predictor files' contents, part of their stamp: bumping it makes older ones stale.
STAMP_FORMAT = "apq-predictor/1"


@dataclass
class Task:
    """A dataset with its training pool and test rows."""

    data: Dataset
    pool: np.ndarray
    test: np.ndarray

    def test_xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.rows(self.test)


def fit_and_test(estimator: MLPPredictor, task: Task, rows: np.ndarray) -> dict:
    """Fit on ``rows`` of the pool (early stopping on a seeded share of them); held-out metrics."""
    fit_rows, val_rows = validation_split(len(rows), estimator.validation_fraction, estimator.seed)
    start = time.perf_counter()
    estimator.fit(*task.data.rows(rows[fit_rows]), *task.data.rows(rows[val_rows]))
    X_test, y_test = task.test_xy()
    return {**evaluate(y_test, estimator.predict(X_test)), "n_train": len(rows), "n_val": len(val_rows),
            "best_epoch": estimator.history_.best_epoch, "epochs": len(estimator.history_.val_rmse),
            "fit_seconds": round(time.perf_counter() - start, 3)}


def quant_estimator(config: PredictorConfig, fp32_dim: int, seed: int, transfer_from: MLPPredictor | None):
    """The transferred (``transfer_from`` given) or from-scratch quantization-aware predictor."""
    return QuantMLPPredictor(fp32_dim, transfer_from=transfer_from, bit_merge=config.bit_merge, bit_lr=config.bit_lr,
                             seed=seed, **config.mlp_params(transfer=transfer_from is not None))


def budget_curve(task: Task, config: PredictorConfig, seed: int, fp32: MLPPredictor, fp32_dim: int) -> list[dict]:
    """Transfer vs scratch at each quantized-sample budget (same test split), averaged over seeds."""
    # Budgets within 20% of the whole pool would repeat its point; the whole pool is always last.
    budgets = [b for b in config.budgets if b <= 0.8 * len(task.pool)] + [len(task.pool)]
    jobs = [(b, s) for b in budgets for s in range(seed, seed + config.curve_seeds)]
    runs: dict[tuple[int, str], list[dict]] = {}
    for budget, run_seed in tqdm(jobs, desc="budget curve", unit="fit", leave=False):
        rows = budget_rows(task.pool, budget, run_seed)
        for name, source in (("transfer", fp32), ("scratch", None)):
            report = fit_and_test(quant_estimator(config, fp32_dim, run_seed, source), task, rows)
            runs.setdefault((budget, name), []).append(report)
    return [{"n_train": b, **{name: mean_metrics(runs[(b, name)]) for name in ("transfer", "scratch")}}
            for b in budgets]


def make_task(space: SearchSpace, kind: str, fraction: float, seed: int) -> Task:
    data = load_dataset(space, kind)
    return Task(data, *split(data, fraction, seed))


def make_stamp(space: SearchSpace, preset: Preset, config: PredictorConfig) -> Stamp:
    """What the predictors depend on: their settings, the encoding, the preset and the sample files' digests."""
    return Stamp("predictor", STAMP_FORMAT, {"predictor": config.to_dict(), "encoding": Encoder(space).describe()},
                 {"preset": preset.to_dict(), "space": space.name},
                 upstream_digests(*(sample_path(space.name, kind) for kind in ("fp32", "quant"))))


def outputs(space: SearchSpace) -> tuple:
    """The stage's files; metrics.json (named first) is written last, then the stamp beside it."""
    return (predictor_dir(space.name) / "metrics.json", *(predictor_path(space.name, k) for k in ("fp32", "quant")))


def build_predictors(space: SearchSpace, preset: Preset, config: PredictorConfig, force: bool = False) -> dict | None:
    """Run the stage; returns the metrics written, or None when the artifacts were up to date."""
    with torch_threads(config.num_threads):
        return _build(space, preset, config, force)


def _build(space: SearchSpace, preset: Preset, config: PredictorConfig, force: bool) -> dict | None:
    for kind in ("fp32", "quant"):
        check_not_busy(sample_path(space.name, kind))
        if not sample_path(space.name, kind).exists():
            load_dataset(space, kind)  # raises its one-line how-to
    files = outputs(space)
    with artifact_lock(files[0]):
        stamp = make_stamp(space, preset, config)
        verdict = freshness(stamp, read_stamp(files[0]), files, command="apq predictor", force=force, replaceable=True)
        return None if verdict == FRESH else _fit_all(space, preset, config, stamp)


def _fit_all(space: SearchSpace, preset: Preset, config: PredictorConfig, stamp: Stamp) -> dict:
    fp32_dim, seed = Encoder(space).fp32_dim, preset.seed
    tasks = {"fp32": make_task(space, "fp32", config.fp32_test_fraction, seed),
             "quant": make_task(space, "quant", config.quant_test_fraction, seed)}
    inputs = {**stamp.to_dict(), "samples": {k: t.data.fingerprint for k, t in tasks.items()}}
    start = time.perf_counter()
    fp32, transfer, reports = fit_predictors(tasks, config, seed, fp32_dim)
    metrics = {"space": space.name, "encoding": Encoder(space).describe(), **reports,
               "quant_budget_curve": budget_curve(tasks["quant"], config, seed, fp32, fp32_dim),
               "baselines": run_baselines(tasks, config, seed, fp32, fp32_dim),
               "label_reliability": {k: label_reliabilities({kind: halves[t.test] for kind, halves
                                                             in t.data.label_halves.items()}) for k, t in tasks.items()},
               "quant_menu_coverage": menu_coverage(space, tasks["quant"].data.genome[tasks["quant"].pool]),
               "test_index": {k: t.data.index[t.test].tolist() for k, t in tasks.items()},
               "device": str(pick_device()), "seconds": None, "inputs": inputs}
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_artifacts(space, fp32, transfer, metrics)
    write_stamp(outputs(space)[0], stamp)
    return metrics


def fit_predictors(tasks: dict[str, Task], config: PredictorConfig, seed: int, fp32_dim: int):
    """The fp32 predictor and the transferred one (saved), the scratch one (compared) on whole pools.

    Returns ``(fp32, transfer, {"fp32": report, "quant": {"transfer": report, "scratch": report}})``.
    """
    fp32 = MLPPredictor(seed=seed, **config.mlp_params())
    fp32_report = fit_and_test(fp32, tasks["fp32"], tasks["fp32"].pool)
    log.info("fp32 predictor: %s", _short(fp32_report))
    quant, reports = tasks["quant"], {}
    transfer = quant_estimator(config, fp32_dim, seed, fp32)
    for name, estimator in (("transfer", transfer), ("scratch", quant_estimator(config, fp32_dim, seed, None))):
        reports[name] = fit_and_test(estimator, quant, quant.pool)
        log.info("quant predictor, %s: %s", name, _short(reports[name]))
    return fp32, transfer, {"fp32": fp32_report, "quant": reports}


def run_baselines(tasks: dict[str, Task], config: PredictorConfig, seed: int, fp32: MLPPredictor,
                  fp32_dim: int) -> dict:
    """Baselines per task; for quant also the fp32 predictor alone (ignoring the bit part)."""
    out = {kind: fit_baselines(config.baselines, task.data.rows(task.pool), task.test_xy(), config.n_trees, seed)
           for kind, task in tasks.items()}
    X_test, y_test = tasks["quant"].test_xy()
    out["quant"]["fp32_predictor"] = {**evaluate(y_test, fp32.predict(X_test[:, :fp32_dim])), "n_train": 0}
    return out


def write_artifacts(space: SearchSpace, fp32: MLPPredictor, quant: QuantMLPPredictor, metrics: dict) -> None:
    """Both checkpoints, then metrics.json (each atomically)."""
    inputs = metrics["inputs"]
    for kind, predictor in (("fp32", fp32), ("quant", quant)):
        save_predictor(predictor, predictor_path(space.name, kind), kind, space, config=inputs,
                       samples=inputs["samples"])
    write_json(predictor_dir(space.name) / "metrics.json", metrics)


def _short(report: dict) -> str:
    return (f"rmse {report['rmse']:.3f}, tau {report['kendall_tau']:.3f}, pairwise {report['pairwise_acc']:.3f} "
            f"(train {report['n_train']}, test {report['n_test']}, {report['fit_seconds']:.1f} s)")
