"""Sensitivity prior benchmark: does a one-layer-at-a-time quantization scan of the supernet help the
quantization-aware predictor rank quantized sub-nets?

    APQ_ROOT=<root> .venv/bin/python bench/sensitivity.py [--space fmnist] [--preset default] [--images 2000]

Needs the root's supernet and both sample files (``make samples``).

1. Scan (:func:`apq.quant.sensitivity.scan`): the largest sub-net at the widest bits, and each bit
   gene of each block alone at each narrower width, measured with the preset's quantization settings
   and no fine-tune on a seeded subset of ``--images`` validation images. ``--scan FILE`` reuses the
   scan of an earlier output of this script instead; ``--scan-only`` stops after it (the samples
   are not needed then).
2. On the predictor stage's own split of the quantized samples (same training pool and held-out
   test rows, same fp32 predictor, fitted as ``apq predictor`` fits it), every model is fitted on
   the accuracy label twice where the scan can enter it, as the stage builds each model without
   and with ``predictor.sensitivity_images``: the structured linear drop started constant
   (``structured_linear``) and from the scan (``structured_prior``); the ridge without and with
   the scan's summed drop as one more column (``structured_ridge``, ``structured_ridge_prior``);
   the ensemble (transfer, structured linear, structured MLP, ridge) and the same with the two
   prior variants in place of their twins (``ensemble_prior``). Two closed-form drops built on the
   scan are compared with ``structured_prior`` (the stage's selected model) as alternatives to it:
   ``drop_by_gene`` scales the scan's summed drop of each gene kind (pointwise / depthwise weights
   and activations) by its own non-negative factor (five numbers fitted), and
   ``drop_toward_prior_<L>`` fits all bit weights by ridge regression shrunk toward the scan's
   two-parameter fit instead of toward zero (penalty L), then clips them at zero as the stage's
   drop is. Each is scored by the stage's cross-validation on the pool (its folds and
   score) and on the held-out test rows (pairwise and cost-matched pairwise accuracy with 95 %
   bootstrap intervals), and each prior variant is compared paired with its twin. ``prior_only``
   is the scan's least-squares fit before any training, ``bits_ignored`` the reference every
   quantization-aware model must beat. The stage itself picks label kinds per model; here every
   model uses accuracy, so the ensembles differ from the stage's own only by that.
3. Budget curve: the linear drop with and without the scan, fitted on the stage's quantized-sample
   budgets (``predictor.budgets``, then the whole pool) drawn from the pool with each of
   ``predictor.curve_seeds`` seeds; held-out figures averaged over the seeds, and their paired
   difference (a prior should matter most where samples are few).

Writes ``results/bench/sensitivity.json``.
"""
from __future__ import annotations

import copy
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from apq.io import write_json
from apq.nn.runtime import torch_threads
from apq.predictor.build import chance_accuracy, cost_table, fit_and_test, make_task
from apq.predictor.config import PredictorConfig, get_predictor_config
from apq.predictor.data import budget_rows
from apq.predictor.estimator import MLPPredictor
from apq.predictor.intervals import summarise
from apq.predictor.network import StructuredQuantNet, pessimistic_mean
from apq.predictor.prior import scan_prior
from apq.predictor.quant_models import folds, make_quant_model, validation_score
from apq.predictor.structured import nonnegative_fit, prior_fit
from apq.predictor.train import predict_array
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.quant.sensitivity import prior_weights
from apq.report import bench_arguments
from apq.space.encoding import Encoder
from apq.space.registry import create_space
from apq.space.space import BIT_GENES

#: The stage's models fitted here (apq.predictor.quant_models.make_quant_model).
STAGE_MODELS = ("bits_ignored", "transfer", "structured_mlp", "structured_linear", "structured_ridge")
#: Each prior variant and its twin, the stage's model it is compared with.
TWINS = {"structured_prior": "structured_linear", "structured_ridge_prior": "structured_ridge",
         "ensemble_prior": "ensemble"}
#: Ridge penalties of the drop shrunk toward the scan's fit (``drop_toward_prior_<L>``).
SHRINK_PENALTIES = (10.0, 100.0)
#: Closed-form alternatives to the stage's selected model, each compared with it (paired).
ALTERNATIVES = ("drop_by_gene", *(f"drop_toward_prior_{p:g}" for p in SHRINK_PENALTIES))
#: Members of each ensemble (a pessimistic mean, as apq.predictor.quant_models.make_ensemble's).
ENSEMBLES = {"ensemble": ("transfer", "structured_linear", "structured_mlp", "structured_ridge"),
             "ensemble_prior": ("transfer", "structured_prior", "structured_mlp", "structured_ridge_prior")}


@dataclass
class Models:
    """Everything the models share: the fitted fp32 predictor, settings and the scan's prior."""

    fp32: MLPPredictor
    fp32_dim: int
    floor: float
    config: PredictorConfig
    seed: int
    prior: np.ndarray

    def make(self, name: str):
        """An unfitted single model: the stage's model without the scan, or with it (a prior variant)."""
        prior = self.prior if name in TWINS else None
        return make_quant_model(TWINS.get(name, name), self.config, self.fp32, self.fp32_dim, self.floor, self.seed,
                                prior)

    def predictions(self, X: np.ndarray, y: np.ndarray, X_eval: np.ndarray) -> dict[str, np.ndarray]:
        """Every model fitted on (X, y), predicting ``X_eval``: {name: (M,) percent}."""
        singles = [*STAGE_MODELS, "structured_prior", "structured_ridge_prior"]
        out = {name: self.make(name).fit(X, y).predict(X_eval) for name in singles}
        for name, members in ENSEMBLES.items():
            out[name] = pessimistic_mean(np.stack([out[m] for m in members]), self.config.ensemble_spread_penalty)
        return {**out, **self.closed_form_drops(X, y, X_eval)}

    def closed_form_drops(self, X: np.ndarray, y: np.ndarray, X_eval: np.ndarray) -> dict[str, np.ndarray]:
        """:data:`ALTERNATIVES` fitted on (X, y), predicting ``X_eval``: {name: (M,) percent}. Each is
        the stage's network (:class:`StructuredQuantNet`, a frozen fp32 base minus a linear logit
        drop of the bit part) with the drop's weights and bias fitted in closed form."""
        net = StructuredQuantNet(copy.deepcopy(self.fp32.network_).cpu(), X.shape[1] - self.fp32_dim, "linear",
                                 floor=self.floor)
        with torch.no_grad():
            base = net.base_logit(torch.as_tensor(self.fp32.predict(X[:, : self.fp32_dim]), dtype=torch.float32))
            drop = (base - net.base_logit(torch.as_tensor(y, dtype=torch.float32))).double().numpy()
        out = {}
        for name, (weights, bias) in self.drop_fits(X[:, self.fp32_dim:].astype(np.float64), drop).items():
            with torch.no_grad():
                net.drop.weight.copy_(torch.as_tensor(weights, dtype=torch.float32)[None])
                net.drop.bias.fill_(bias)
            out[name] = predict_array(net, X_eval, torch.device("cpu"))
        return out

    def drop_fits(self, bits: np.ndarray, drop: np.ndarray) -> dict[str, tuple[np.ndarray, float]]:
        """{name: (bit weights (bit_dim,), bias)} of each of :data:`ALTERNATIVES`, fitted to the logit
        ``drop`` (N,) of rows whose encoding's bit part is ``bits`` (N, bit_dim)."""
        genes = len(BIT_GENES)  # the bit part is gene-major (apq.quant.sensitivity.prior_weights)
        per_gene = np.stack([part @ prior for part, prior in zip(np.split(bits, genes, axis=1),
                                                                  np.split(self.prior, genes))], axis=1)
        factors, bias = nonnegative_fit(per_gene, drop)
        fits = {"drop_by_gene": (np.repeat(factors, len(self.prior) // genes) * self.prior, bias)}
        scale, _ = prior_fit(bits @ self.prior, drop)
        residual = drop - scale * (bits @ self.prior)
        centred = bits - bits.mean(axis=0)
        for penalty in SHRINK_PENALTIES:
            gram = centred.T @ centred + penalty * np.eye(bits.shape[1])
            weights = np.maximum(scale * self.prior + np.linalg.solve(gram, centred.T @ (residual - residual.mean())), 0)
            fits[f"drop_toward_prior_{penalty:g}"] = (weights, float(np.mean(drop - bits @ weights)))
        return fits


def cross_validated(task, models: Models) -> dict:
    """Each model's mean fold score on the pool (the stage's folds and score)."""
    config = models.config
    X, y = task.data.rows(task.pool)
    latency = task.latency_ms[task.pool]
    scores: dict[str, list[dict]] = {}
    for part in folds(len(y), config.selection_folds, models.seed):
        fit_rows = np.setdiff1d(np.arange(len(y)), part)
        for name, prediction in models.predictions(X[fit_rows], y[fit_rows], X[part]).items():
            scores.setdefault(name, []).append(validation_score(y[part], latency[part], prediction,
                                                                config.cost_match_tolerance))
    return {name: {key: float(np.nanmean([s[key] for s in runs])) for key in runs[0]} for name, runs in scores.items()}


def held_out(task, models: Models) -> tuple[dict, dict]:
    """Every model fitted on the whole pool and measured on the test rows, the scan's start alone
    (``prior_only``), each prior variant minus its twin and each of :data:`ALTERNATIVES` minus
    ``structured_prior`` (paired). Returns ``(reports, differences)``."""
    X_pool, y_pool = task.data.rows(task.pool)
    X_test = task.test_xy()[0]
    predictions = models.predictions(X_pool, y_pool, X_test)
    start = models.make("structured_prior")._initial_network(X_pool, y_pool)
    predictions["prior_only"] = predict_array(start, X_test, torch.device("cpu"))
    reports = {name: task.held_out.report(p) for name, p in predictions.items()}
    pairs = [*TWINS.items(), *((name, "structured_prior") for name in ALTERNATIVES)]
    differences = {f"{variant}_minus_{twin}": task.held_out.difference(predictions[variant], predictions[twin])
                   for variant, twin in pairs}
    return reports, differences


def budget_curve(task, models: Models) -> list[dict]:
    """Per budget: seed-mean held-out figures of ``structured_linear`` and ``structured_prior`` fitted
    on that many pool rows, and prior minus constant, paired on the same resamples."""
    X_test = task.test_xy()[0]
    budgets = [b for b in models.config.budgets if b < len(task.pool)] + [len(task.pool)]
    curve = []
    for budget in budgets:
        figures = {"structured_linear": [], "structured_prior": []}
        for seed in range(models.seed, models.seed + models.config.curve_seeds):
            X, y = task.data.rows(budget_rows(task.pool, budget, seed))
            for name in figures:
                figures[name].append(task.held_out.figures(models.make(name).fit(X, y).predict(X_test)))
        means = {name: np.mean(runs, axis=0) for name, runs in figures.items()}
        curve.append({"n_train": budget, **{name: summarise(m) for name, m in means.items()},
                      "prior_minus_linear": summarise(means["structured_prior"] - means["structured_linear"])})
    return curve


def main() -> int:
    parser = bench_arguments(__doc__, "sensitivity")
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--images", type=int, default=2000, help="validation images each probe is measured on")
    parser.add_argument("--scan", help="reuse the scan of an earlier output JSON of this script")
    parser.add_argument("--scan-only", action="store_true", help="write the scan alone and stop")
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
            scanned = scan_prior(space, preset, get_quant_config(preset.name), args.images, args.data_dir)[1]
        print(f"scan: base {scanned['base_acc']:.2f} %, {scanned['seconds']} s", flush=True)
        if args.scan_only:
            write_json(args.out, {"space": space.name, "preset": preset.name, "scan": scanned,
                                  "created": time.strftime("%Y-%m-%d %H:%M:%S")})
            return 0
        prior = prior_weights(space, np.asarray(scanned["drop"]))
        table, seed = cost_table(space, config), preset.seed
        tasks = {kind: make_task(space, kind, config, seed, table) for kind in ("fp32", "quant")}
        fp32 = MLPPredictor(seed=seed, **config.mlp_params())
        fit_and_test(fp32, tasks["fp32"], tasks["fp32"].pool)
        models = Models(fp32, Encoder(space).fp32_dim, chance_accuracy(space), config, seed, prior)
        cv = cross_validated(tasks["quant"], models)
        reports, differences = held_out(tasks["quant"], models)
        curve = budget_curve(tasks["quant"], models)
    quant = tasks["quant"]
    report = {"space": space.name, "preset": preset.name, "scan": scanned, "cross_validation": cv, "test": reports,
              "paired": differences, "budget_curve": curve, "n_pool": len(quant.pool), "n_test": len(quant.test),
              "folds": config.selection_folds, "seconds": round(time.perf_counter() - started, 1),
              "created": time.strftime("%Y-%m-%d %H:%M:%S")}
    write_json(args.out, report)
    for name, r in reports.items():
        fold = f"; cv {cv[name]['score']:.3f}" if name in cv else ""
        print(f"{name}: test pairwise {r['pairwise_acc']:.3f}, cost-matched {r['pairwise_acc_cost_matched']:.3f}{fold}")
    for name, d in differences.items():
        print(f"{name}: pairwise {d['pairwise_acc']:+.3f} {d['pairwise_acc_ci']}")
    for point in curve:
        print(f"{point['n_train']} samples: linear {point['structured_linear']['pairwise_acc']:.3f}, prior "
              f"{point['structured_prior']['pairwise_acc']:.3f}")
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
