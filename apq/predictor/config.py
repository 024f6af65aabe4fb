"""Predictor-stage settings: a typed, validated dataclass and one named instance per preset.

Why these defaults, in one line each (the measurements: docs/decisions.md "Predictor"):

- MLP shape (3 hidden layers of 400, ReLU, output bias = mean training accuracy): APQ's and
  once-for-all's accuracy predictors.
- Adam at 1e-3 in mini-batches of 128, early stopping on validation RMSE keeping the best
  epoch: a few seconds per fit; the L2 penalty 1e-3 keeps the MLP from overfitting small pools.
- Transfer fine-tunes the shared weights at a tenth of that rate (they start from a good fp32
  solution) and the new bit branch, which starts at zero, at the full rate.
- ``sensitivity_images`` 2000 on the default preset: the scan costs about 6 CPU minutes there and
  lifted every model it enters on held-out quantized samples (``bench/sensitivity.py``); smoke
  leaves it off, so its predictor needs no supernet.
- Splits: ``val_fraction`` of each training pool for early stopping; the test split is a fixed
  share of each sample file chosen by one seeded hash of the sample index (see
  :mod:`apq.predictor.data`). With ``quant_test_fraction <= fp32_test_fraction`` every quantized
  test sample's index is also an fp32 test index, so if sample files derive sample i's
  architecture from i alone, the transferred predictor never saw a test architecture in its
  fp32 training either.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for
from apq.predictor.network import BIT_MERGES

BASELINES = ("ridge", "random_forest", "gradient_boosting")
#: Quantization-aware models apq/predictor/quant_models.py can fit and compare.
QUANT_MODELS = ("transfer", "scratch", "structured_linear", "structured_mlp", "structured_gene", "structured_rank",
                "structured_arch", "structured_ridge", "ensemble")


@dataclass(frozen=True)
class PredictorConfig(Settings):
    """How the fp32, transferred and scratch predictors and the baselines are trained and tested."""

    what = "predictor setting"

    name: str
    hidden_size: int = 400
    n_layers: int = 3
    #: Where the bit branch joins the first hidden layer (APQ: after its ReLU, see network.py).
    bit_merge: str = "after_relu"
    batch_size: int = 128
    lr: float = 1e-3
    #: Transfer: the shared weights fine-tune at ``transfer_lr``, the new bit branch at ``bit_lr``.
    transfer_lr: float = 1e-4
    bit_lr: float = 1e-3
    #: L2 penalty (Adam's weight_decay) on every weight.
    weight_decay: float = 1e-3
    max_epochs: int = 300
    patience: int = 30
    #: Share of every training pool held out for early stopping (never the test split).
    val_fraction: float = 0.15
    #: Test shares: 0.35 of the default 300 quantized samples (the hash split holds out 103) keeps
    #: >= 100 held-out quantized samples, enough for about +-0.03 on a pairwise figure.
    fp32_test_fraction: float = 0.35
    quant_test_fraction: float = 0.35
    #: Quantized-sample budgets of the transfer-vs-scratch curve; the whole pool is always added.
    budgets: tuple[int, ...] = (25, 50, 100)
    #: Seeds averaged per budget.
    curve_seeds: int = 3
    baselines: tuple[str, ...] = BASELINES
    #: Trees of the random-forest and gradient-boosting baselines.
    n_trees: int = 300
    #: Quantization-aware models fitted and compared; transfer and scratch are always reported (the
    #: budget curve, --import-apq), the search uses the best of the others on validation.
    quant_models: tuple[str, ...] = QUANT_MODELS
    #: Folds of the cross-validation over the quantized training pool that picks the search's model
    #: and each model's label kind: every pool row validates once, and k fits per model stay cheap.
    selection_folds: int = 3
    #: The ensemble predicts its members' mean minus this many standard deviations of their
    #: predictions (0: the plain mean). Held-out random samples barely tell the two apart; under
    #: search they differ: the GA climbs to where one member extrapolates (a linear model's corner).
    ensemble_spread_penalty: float = 1.0
    #: Structured models' drop: hidden units of the MLP drop, Adam rate, L2 penalty (few weights, so a
    #: rate 10x the MLP's; they start at the mean drop).
    drop_hidden: int = 64
    drop_lr: float = 1e-2
    drop_weight_decay: float = 1e-4
    #: structured_rank's temperature (logit units) in its pairwise logistic loss: 0.01-0.05 ranked the
    #: pool's folds alike (0.867-0.869), 0.2 and above worse (a soft loss lets large drops dominate).
    rank_temperature: float = 0.02
    #: Validation images on which the supernet's sensitivity scan (apq.quant.sensitivity: one bit gene of
    #: one block at a time, no fine-tune) measures each probe; the scan then starts structured_linear's drop
    #: and is one more column of structured_ridge (0: no scan, and the stage needs no supernet).
    sensitivity_images: int = 0
    #: Target whose latency defines cost-matched pairs (the default search target), and their tolerance:
    #: latencies within 10 % of the smaller one, the candidates a search under a limit must order.
    cost_target: str = "fpga"
    cost_match_tolerance: float = 0.10
    #: Bootstrap resamples of the held-out samples behind every figure's 95 % interval.
    bootstrap_resamples: int = 1000
    #: Torch threads while fitting. One: these small matrix products gain nothing from more, and
    #: threads spin-waiting on a loaded host cost far more.
    num_threads: int = 1

    def __post_init__(self) -> None:
        problems = []
        positive = ("hidden_size", "n_layers", "batch_size", "max_epochs", "patience", "curve_seeds", "n_trees",
                    "num_threads", "drop_hidden", "bootstrap_resamples")
        problems += [f"{f} must be >= 1" for f in positive if getattr(self, f) < 1]
        if min(self.lr, self.transfer_lr, self.bit_lr, self.drop_lr) <= 0 or min(self.weight_decay,
                                                                                 self.drop_weight_decay) < 0:
            problems.append("learning rates must be > 0 and weight_decay >= 0")
        fractions = ("val_fraction", "fp32_test_fraction", "quant_test_fraction")
        problems += [f"{f} must be in (0, 0.5]" for f in fractions if not 0 < getattr(self, f) <= 0.5]
        if self.quant_test_fraction > self.fp32_test_fraction:
            problems.append("quant_test_fraction must be <= fp32_test_fraction (see the module docstring)")
        if any(b < 4 for b in self.budgets) or list(self.budgets) != sorted(set(self.budgets)):
            problems.append("budgets must be increasing and >= 4")
        if self.bit_merge not in BIT_MERGES:
            problems.append(f"bit_merge must be one of {BIT_MERGES}")
        if set(self.quant_models) - set(QUANT_MODELS) or not {"transfer", "scratch"} <= set(self.quant_models):
            problems.append(f"quant_models must be among {QUANT_MODELS} and include transfer and scratch")
        if self.sensitivity_images < 0:
            problems.append("sensitivity_images must be >= 0")
        if self.rank_temperature <= 0:
            problems.append("rank_temperature must be > 0")
        if self.ensemble_spread_penalty < 0:
            problems.append("ensemble_spread_penalty must be >= 0")
        if self.selection_folds < 2:
            problems.append("selection_folds must be >= 2")
        if not 0 < self.cost_match_tolerance < 1:
            problems.append("cost_match_tolerance must be in (0, 1)")
        if set(self.baselines) - set(BASELINES):
            problems.append(f"baselines must be among {BASELINES}")
        if problems:
            raise ValueError(f"invalid predictor config '{self.name}': {'; '.join(problems)}")

    def mlp_params(self, transfer: bool = False) -> dict:
        """Estimator hyper-parameters (see :class:`apq.predictor.estimator.MLPPredictor`)."""
        return {"hidden_size": self.hidden_size, "n_layers": self.n_layers, "batch_size": self.batch_size,
                "lr": self.transfer_lr if transfer else self.lr, "weight_decay": self.weight_decay,
                "max_epochs": self.max_epochs, "patience": self.patience, "validation_fraction": self.val_fraction}

    def drop_params(self) -> dict:
        """Hyper-parameters of a structured model's drop (:class:`apq.predictor.structured.StructuredQuantPredictor`)."""
        shared = {k: v for k, v in self.mlp_params().items() if k != "n_layers"}
        return {**shared, "hidden_size": self.drop_hidden, "lr": self.drop_lr, "weight_decay": self.drop_weight_decay}


PREDICTOR_PRESETS = {
    # Tiny networks and few epochs: exercises every code path in seconds.
    "smoke": PredictorConfig("smoke", hidden_size=32, max_epochs=20, patience=5, budgets=(10, 20), curve_seeds=2,
                             n_trees=20),
    "default": PredictorConfig("default", budgets=(25, 50, 100, 200), sensitivity_images=2000),
    "full": PredictorConfig("full", patience=60, budgets=(25, 50, 100, 200, 400), curve_seeds=5,
                            sensitivity_images=5000),
}


def get_predictor_config(preset: str) -> PredictorConfig:
    """Predictor settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(PREDICTOR_PRESETS, preset, "predictor")
