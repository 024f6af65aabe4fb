"""The ``apq predictor`` stage: fit, test and save the fp32 and quantization-aware predictors.

Reads ``data/<space>/samples_{fp32,quant}.h5``, splits each into a training pool and a fixed
test split, fits the fp32 MLP, scans the supernet's one-layer quantization sensitivity when
``predictor.sensitivity_images`` > 0 (:mod:`apq.predictor.prior`; the scan is kept in
``sensitivity.json`` and reused while the supernet, quantization settings and images stay the same,
``--force`` scans again), then the quantization-aware models of
:mod:`apq.predictor.quant_models` (APQ's transfer, scratch, structured, ensemble), picks the
search's model by cross-validation on the quantized pool, measures every model and the
bits-ignored reference on the held-out quantized samples, adds the transfer-vs-scratch budget
curve and the scikit-learn baselines, then writes ``predictors/<space>/fp32.pt``, ``quant.pt``
(the selected model) and ``metrics.json`` (last, so a complete metrics.json means a complete
run). Same sample files and settings as the last run: nothing to do.

``metrics.json`` (docs/architecture.md, Measures; on test rows never used to fit, early-stop or select;
every figure ``F`` with ``F_ci``, its 95 % bootstrap interval over the held-out samples,
:mod:`apq.predictor.intervals`)::

    fp32                  rmse (points), kendall_tau (tau-b), pairwise_acc, pairwise_acc_cost_matched,
                          n_test, n_train (pool rows used, early-stopping share included), n_val (that
                          share), best_epoch, epochs, fit_seconds
    quant.<model>         the same for bits_ignored, transfer, scratch, structured_linear,
                          structured_mlp, structured_ridge, ensemble; plus label (the label kind it was fitted on),
                          n_cost_matched_pairs and minus_bits_ignored (paired differences with intervals)
    quant.selected        the key under quant of the model saved as quant.pt (best on validation)
    quant_selection       the cross-validation behind it: {folds, scores: {model: {label: {pairwise_acc,
                          pairwise_acc_cost_matched, score}}}, labels, selected}
    quant_budget_curve    [{n_train, transfer: {...}, scratch: {...}, transfer_minus_scratch: {...}}]:
                          means over ``curve_seeds`` seeds (with ``*_std``, ``*_ci`` and n_seeds) at
                          each budget up to the whole pool, same test rows
    baselines             {fp32: {ridge, random_forest, gradient_boosting}, quant: {..., fp32_predictor
                          (the fp32 predictor on the fp32 part, bits ignored, unshifted)}}
    label_reliability     {fp32, quant}.{accuracy, loss, p_correct}: split-half agreement of each label
                          kind on the test rows, and the tau / pairwise accuracy that a predictor knowing
                          its noise-free value would reach against their measured accuracies
                          (:func:`apq.predictor.metrics.label_reliability`); with a retest file,
                          ``accuracy.retest``: the same with the noise of the evaluation's random
                          draws counted too (:mod:`apq.predictor.retest`)
    quant_menu_coverage   fewest appearances of a bit width at a layer position in the quantized
                          training pool (:func:`apq.predictor.data.menu_coverage`)
    test_index            sample indices of each test split;  inputs: what the run depended on
    cost_matching         target and tolerance of the cost-matched pairs
    sensitivity           the supernet's scan behind the prior (base_acc, drop (B, 4, bit choices) in
                          points, images, seconds), or None without one
    space, encoding, device, seconds
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from apq.errors import UserError
from apq.hardware.cost import CostTable
from apq.hardware.target import create_target
from apq.io import write_json
from apq.nn.runtime import pick_device, torch_threads
from apq.predictor.baselines import fit_baselines
from apq.predictor.config import PredictorConfig
from apq.predictor.data import Dataset, budget_rows, load_dataset, menu_coverage, split
from apq.predictor.estimator import MLPPredictor, validation_split
from apq.predictor.intervals import FIGURES, HeldOut, json_number, summarise
from apq.predictor.load import predictor_dir, predictor_path, save_predictor
from apq.predictor.metrics import evaluate, label_reliabilities
from apq.predictor.retest import paired_retest, retest_reliability
from apq.predictor.prior import scan_prior
from apq.predictor.quant_models import ACCURACY, fit_model, label_kinds, make_ensemble, make_quant_model, select
from apq.presets import Preset
from apq.quant.config import QuantConfig, get_quant_config
from apq.samples.store import read_samples
from apq.space.encoding import Encoder
from apq.space.space import SearchSpace
from apq.stages.fresh import FRESH, Stamp, freshness, read_stamp, upstream_digests, write_stamp
from apq.stages.layout import retest_path, sample_path, supernet_path
from apq.stages.lock import artifact_lock, check_not_busy

log = logging.getLogger(__name__)

#: Version of the predictor files' contents, part of their stamp: bumping it makes older ones stale.
STAMP_FORMAT = "apq-predictor/2"


@dataclass
class Task:
    """A dataset with its training pool, test rows, each row's latency on the cost target (ms) and
    the held-out test rows with their bootstrap resamples."""

    data: Dataset
    pool: np.ndarray
    test: np.ndarray
    latency_ms: np.ndarray
    held_out: HeldOut

    def test_xy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.data.rows(self.test)


def make_task(space: SearchSpace, kind: str, config: PredictorConfig, seed: int, table: CostTable) -> Task:
    """Load a sample file, split it, cost its genomes and fix the test rows' resamples."""
    data = load_dataset(space, kind)
    fraction = config.quant_test_fraction if kind == "quant" else config.fp32_test_fraction
    pool, test = split(data, fraction, seed)
    latency = table.evaluate(read_samples(data.path).genome.astype(np.int64)).latency_ms
    held = HeldOut.make(data.y[test], latency[test], config.bootstrap_resamples, seed, config.cost_match_tolerance)
    return Task(data, pool, test, latency, held)


def fit_and_test(estimator: MLPPredictor, task: Task, rows: np.ndarray, label: np.ndarray | None = None) -> dict:
    """Fit on ``rows`` of the pool (early stopping on a seeded share of them; ``label`` (N,) of the
    whole file instead of accuracy if given, mapped onto accuracy); held-out figures with intervals."""
    start = time.perf_counter()
    X, y = task.data.rows(rows)
    fit_model(estimator, X, y, y if label is None else label[rows])
    report = {**task.held_out.report(estimator.predict(task.test_xy()[0])), **fit_info(estimator, len(rows))}
    report["fit_seconds"] = round(time.perf_counter() - start, 3)
    return report


def fit_info(estimator: MLPPredictor, n_train: int) -> dict:
    """Rows used and early-stopping history (none for a model without training of its own)."""
    history = getattr(estimator, "history_", None)
    n_val = len(validation_split(n_train, estimator.validation_fraction, 0)[1]) if history else 0
    return {"n_train": n_train, "n_val": n_val, "best_epoch": history.best_epoch if history else None,
            "epochs": len(history.val_rmse) if history else 0}


def budget_curve(task: Task, config: PredictorConfig, seed: int, fp32: MLPPredictor, fp32_dim: int,
                 floor: float) -> list[dict]:
    """Transfer vs scratch at each quantized-sample budget up to the whole pool (same test split),
    averaged over seeds; intervals of the seed means from the shared resamples."""
    # Budgets within 20% of the whole pool would repeat its point; the whole pool is always last.
    budgets = [b for b in config.budgets if b <= 0.8 * len(task.pool)] + [len(task.pool)]
    jobs = [(b, s) for b in budgets for s in range(seed, seed + config.curve_seeds)]
    figures: dict[tuple[int, str], list[np.ndarray]] = {}
    X_test = task.test_xy()[0]
    for budget, run_seed in tqdm(jobs, desc="budget curve", unit="fit", leave=False):
        rows = budget_rows(task.pool, budget, run_seed)
        for name in ("transfer", "scratch"):
            model = make_quant_model(name, config, fp32, fp32_dim, floor, run_seed).fit(*task.data.rows(rows))
            figures.setdefault((budget, name), []).append(task.held_out.figures(model.predict(X_test)))
    curve = []
    for b in budgets:
        point = {"n_train": b, **{name: seed_mean(figures[(b, name)], len(task.test))
                                  for name in ("transfer", "scratch")}}
        diff = np.mean(figures[(b, "transfer")], axis=0) - np.mean(figures[(b, "scratch")], axis=0)
        curve.append({**point, "transfer_minus_scratch": summarise(diff)})
    return curve


def seed_mean(runs: list[np.ndarray], n_test: int) -> dict:
    """Mean over seeds of each figure (with its spread over seeds and the interval of the mean)."""
    stacked = np.stack(runs)  # (seeds, figures, resamples)
    out = summarise(stacked.mean(axis=0))
    with np.errstate(invalid="ignore"):
        out.update({f"{name}_std": json_number(np.std(stacked[:, i, 0])) for i, name in enumerate(FIGURES)})
    return {**out, "n_test": n_test, "n_seeds": len(runs)}


def cost_table(space: SearchSpace, config: PredictorConfig) -> CostTable:
    return CostTable(space, create_target(config.cost_target))


def make_stamp(space: SearchSpace, preset: Preset, config: PredictorConfig, quant: QuantConfig) -> Stamp:
    """What the predictors depend on: their settings, the encoding, the preset and the sample files'
    digests; with the sensitivity scan also the quantization settings and the supernet's digest."""
    settings = {"predictor": config.to_dict(), "encoding": Encoder(space).describe()}
    upstream = [sample_path(space.name, kind) for kind in ("fp32", "quant")]
    upstream += [path for path in (retest_path(space.name, kind) for kind in ("fp32", "quant")) if path.exists()]
    if config.sensitivity_images:
        settings["quant"] = quant.to_dict()
        upstream.append(supernet_path(space.name))
    return Stamp("predictor", STAMP_FORMAT, settings, {"preset": preset.to_dict(), "space": space.name},
                 upstream_digests(*upstream))


def outputs(space: SearchSpace) -> tuple:
    """The stage's files; metrics.json (named first) is written last, then the stamp beside it."""
    return (predictor_dir(space.name) / "metrics.json", *(predictor_path(space.name, k) for k in ("fp32", "quant")))


def build_predictors(space: SearchSpace, preset: Preset, config: PredictorConfig, force: bool = False,
                     quant: QuantConfig | None = None, data_dir=None) -> dict | None:
    """Run the stage; returns the metrics written, or None when the artifacts were up to date.
    ``quant`` (default: the preset's) and ``data_dir`` serve the sensitivity scan."""
    with torch_threads(config.num_threads):
        return _build(space, preset, config, force, quant or get_quant_config(preset.name), data_dir)


def _build(space: SearchSpace, preset: Preset, config: PredictorConfig, force: bool, quant: QuantConfig,
           data_dir) -> dict | None:
    for kind in ("fp32", "quant"):
        check_not_busy(sample_path(space.name, kind))
        check_not_busy(retest_path(space.name, kind))
        if not sample_path(space.name, kind).exists():
            load_dataset(space, kind)  # raises its one-line how-to
    if config.sensitivity_images and not supernet_path(space.name).exists():
        raise UserError(f"predictor.sensitivity_images scans the supernet, and {supernet_path(space.name)} is missing; "
                        "run 'apq supernet' first, or --set predictor.sensitivity_images=0")
    files = outputs(space)
    with artifact_lock(files[0]):
        stamp = make_stamp(space, preset, config, quant)
        verdict = freshness(stamp, read_stamp(files[0]), files, command="apq predictor", force=force, replaceable=True)
        return None if verdict == FRESH else _fit_all(space, preset, config, stamp, quant, data_dir,
                                                            rescan=force)


def _fit_all(space: SearchSpace, preset: Preset, config: PredictorConfig, stamp: Stamp, quant: QuantConfig,
             data_dir, rescan: bool) -> dict:
    fp32_dim, seed, floor = Encoder(space).fp32_dim, preset.seed, chance_accuracy(space)
    table = cost_table(space, config)
    tasks = {kind: make_task(space, kind, config, seed, table) for kind in ("fp32", "quant")}
    inputs = {**stamp.to_dict(), "samples": {k: t.data.fingerprint for k, t in tasks.items()}}
    start = time.perf_counter()
    fp32 = MLPPredictor(seed=seed, **config.mlp_params())
    fp32_report = fit_and_test(fp32, tasks["fp32"], tasks["fp32"].pool)
    log.info("fp32 predictor: %s", _short(fp32_report))
    prior, scanned = None, None
    if config.sensitivity_images:
        prior, scanned = scan_prior(space, preset, quant, config.sensitivity_images, data_dir, reuse=not rescan)
        log.info("sensitivity scan: widest bits %.2f %%, every probe in %.0f s", scanned["base_acc"], scanned["seconds"])
    quant_reports, selection, saved = fit_quant(tasks["quant"], config, seed, fp32, fp32_dim, floor, prior,
                                                tuple(space.bit_choices))
    metrics = {"space": space.name, "encoding": Encoder(space).describe(), "fp32": fp32_report,
               "quant": quant_reports, "quant_selection": selection,
               "quant_budget_curve": budget_curve(tasks["quant"], config, seed, fp32, fp32_dim, floor),
               "baselines": run_baselines(tasks, config, seed, fp32, fp32_dim),
               "label_reliability": {k: reliability(space, k, t, seed) for k, t in tasks.items()},
               "quant_menu_coverage": menu_coverage(space, tasks["quant"].data.genome[tasks["quant"].pool]),
               "test_index": {k: t.data.index[t.test].tolist() for k, t in tasks.items()},
               "cost_matching": {"target": config.cost_target, "tolerance": config.cost_match_tolerance},
               "sensitivity": scanned,
               "device": str(pick_device()), "seconds": None, "inputs": inputs}
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    write_artifacts(space, fp32, saved, metrics)
    write_stamp(outputs(space)[0], stamp)
    return metrics


def reliability(space: SearchSpace, kind: str, task: Task, seed: int) -> dict:
    """:func:`label_reliabilities` of the held-out samples; with a retest file, the accuracy's
    entry gains ``retest`` (:func:`apq.predictor.retest.retest_reliability`)."""
    data = task.data
    out = label_reliabilities({label: halves[task.test] for label, halves in data.label_halves.items()})
    pair = paired_retest(data.path, retest_path(space.name, kind), data.index, data.y, space=space.name, kind=kind)
    if pair is not None:
        out["accuracy"]["retest"] = retest_reliability(*pair, data.y[task.test], data.halves[task.test], seed)
    return out


def chance_accuracy(space: SearchSpace) -> float:
    """Accuracy of guessing (percent): where a quantized sub-net's accuracy saturates."""
    return 100.0 / space.config.num_classes


def fit_quant(task: Task, config: PredictorConfig, seed: int, fp32: MLPPredictor, fp32_dim: int,
              floor: float, prior: np.ndarray | None = None,
              widths: tuple[int, ...] = ()) -> tuple[dict, dict, MLPPredictor]:
    """Choose on the pool, fit every quantization-aware model (``prior``: the sensitivity prior or
    None; ``widths``: the space's bit choices) on the whole pool with its label kind, measure each
    on the test rows. Returns ``(quant reports + selected, selection, selected model)``."""
    labels = label_kinds(task.data)
    X_pool, y_pool = task.data.rows(task.pool)
    selection = select(X_pool, y_pool, {k: v[task.pool] for k, v in labels.items()}, task.latency_ms[task.pool],
                       config, fp32, fp32_dim, floor, seed, prior, widths)
    log.info("quant model selected on validation: %s", selection["selected"])
    fitted, reports = {}, {}
    for name in ["bits_ignored", *(n for n in config.quant_models if n != "ensemble")]:
        kind = selection["labels"].get(name, ACCURACY)
        fitted[name] = make_quant_model(name, config, fp32, fp32_dim, floor, seed, prior, widths)
        reports[name] = {**fit_and_test(fitted[name], task, task.pool, labels[kind]), "label": kind}
    ensemble = make_ensemble(fitted, config.ensemble_spread_penalty) if "ensemble" in config.quant_models else None
    if ensemble is not None:
        fitted["ensemble"] = ensemble
        reports["ensemble"] = {**task.held_out.report(ensemble.predict(task.test_xy()[0])),
                               **fit_info(ensemble, len(task.pool)), "label": "members", "fit_seconds": 0.0}
    X_test = task.test_xy()[0]
    reference = fitted["bits_ignored"].predict(X_test)
    for name, model in fitted.items():
        if name != "bits_ignored":
            reports[name]["minus_bits_ignored"] = task.held_out.difference(model.predict(X_test), reference)
        log.info("quant predictor, %s: %s", name, _short(reports[name]))
    return {**reports, "selected": selection["selected"]}, selection, fitted[selection["selected"]]


def run_baselines(tasks: dict[str, Task], config: PredictorConfig, seed: int, fp32: MLPPredictor,
                  fp32_dim: int) -> dict:
    """Baselines per task; for quant also the fp32 predictor alone (ignoring the bit part)."""
    out = {kind: fit_baselines(config.baselines, task.data.rows(task.pool), task.test_xy(), config.n_trees, seed)
           for kind, task in tasks.items()}
    X_test, y_test = tasks["quant"].test_xy()
    out["quant"]["fp32_predictor"] = {**evaluate(y_test, fp32.predict(X_test[:, :fp32_dim])), "n_train": 0}
    return out


def write_artifacts(space: SearchSpace, fp32: MLPPredictor, quant: MLPPredictor, metrics: dict) -> None:
    """Both checkpoints, then metrics.json (each atomically)."""
    inputs = metrics["inputs"]
    for kind, predictor in (("fp32", fp32), ("quant", quant)):
        save_predictor(predictor, predictor_path(space.name, kind), kind, space, config=inputs,
                       samples=inputs["samples"])
    write_json(predictor_dir(space.name) / "metrics.json", metrics)


def _short(report: dict) -> str:
    figures = ", ".join(f"{name} {report[name]:.3f}" if report[name] is not None else f"{name} -"
                        for name in ("rmse", "kendall_tau", "pairwise_acc", "pairwise_acc_cost_matched"))
    return f"{figures} (train {report['n_train']}, test {report['n_test']}, {report['fit_seconds']:.1f} s)"
