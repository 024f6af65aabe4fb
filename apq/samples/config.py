"""Sample-generation settings: how many samples, and how an fp32 sample is evaluated.

A quantized sample is evaluated with the preset's :class:`apq.quant.config.QuantConfig`
(calibration, fine-tune length); an fp32 sample with the fields here.

Every default sample is measured on the whole validation split: the noise of a finite
evaluation split dominates a sample's label noise, far above that of the BN re-calibration set
(docs/decisions.md "Samples"). Each sample also stores its accuracy on the two halves of the
split (``accuracy_halves``), from which ``apq predictor`` reports the split-half reliability of
the labels (:func:`apq.predictor.metrics.label_reliability`).
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for

KINDS = ("fp32", "quant")
DRAWS = ("uniform", "cost_stratified")
#: Fewest re-measured samples that give a noise estimate (a variance needs a few pairs).
MIN_RETEST = 3


@dataclass(frozen=True)
class SampleConfig(Settings):
    """Counts and fp32 evaluation settings of one preset."""

    what = "sample setting"

    name: str
    #: Samples ``apq samples`` makes by default (``--n`` overrides).
    n_fp32: int = 1000
    #: 300: the predictors' hash split (test share 0.35, seed 0) holds out 103 of them (>= 100 for
    #: held-out figures with about +-0.03 of slack) and leaves 197 in the training pool, where every
    #: bit width appears at every kept layer position >= 16 times with bits {2,4,6,8}, 27 with {4,6,8}
    #: (apq.predictor.data.menu_coverage; uniform architecture draws: 7).
    n_quant: int = 300
    #: Samples 0..n_retest-1 of each kind measured a second time with other random draws and another
    #: calibration pool (``data/<space>/samples_<kind>_retest.h5``; 0 = none): how much a label moves
    #: between two realizations of its evaluation, which the split halves cannot see. 30 cost about
    #: 4 minutes here (45 s fp32, 194 s quantized on two workers) and give the realization noise to
    #: about +-25 % (95 %; a standard deviation from 30 pairs).
    n_retest: int = 30
    #: How architectures are drawn (apq.samples.draw): evenly over the MACs range spreads the
    #: labels over the whole cost range that the search explores, uniform genomes crowd its middle.
    draw: str = "cost_stratified"
    #: Candidates a cost-stratified draw picks the nearest-cost one from (128 fill fmnist's range evenly).
    draw_candidates: int = 128
    #: Fixed, seeded subsets of the validation split each sample is evaluated on (0 = all of it).
    fp32_val_images: int = 0
    quant_val_images: int = 0
    #: Training images re-estimating the BN statistics of an fp32 sample, and the batch size.
    fp32_bn_calib_images: int = 500
    bn_calib_batch: int = 100
    eval_batch: int = 64
    channels_last: bool = True

    def __post_init__(self) -> None:
        positive = ("n_fp32", "n_quant", "fp32_bn_calib_images", "bn_calib_batch", "eval_batch", "draw_candidates")
        problems = [f"{f} must be >= 1" for f in positive if getattr(self, f) < 1]
        problems += [f"{f} must be >= 0" for f in ("fp32_val_images", "quant_val_images") if getattr(self, f) < 0]
        if self.n_retest < 0 or 0 < self.n_retest < MIN_RETEST:
            problems.append(f"n_retest must be 0 (none) or >= {MIN_RETEST}")
        if self.draw not in DRAWS:
            problems.append(f"draw must be one of {', '.join(DRAWS)}")
        if problems:
            raise ValueError(f"invalid sample config '{self.name}': {'; '.join(problems)}")

    def count(self, kind: str) -> int:
        """Default number of samples of ``kind`` (fp32 | quant)."""
        return self.n_quant if kind == "quant" else self.n_fp32

    def retest_count(self, n: int) -> int:
        """Samples re-measured when a file holds ``n``: ``n_retest``, at most ``n``, 0 below :data:`MIN_RETEST`."""
        count = min(self.n_retest, n)
        return count if count >= MIN_RETEST else 0

    def val_images(self, kind: str) -> int:
        return self.quant_val_images if kind == "quant" else self.fp32_val_images

    def evaluation_settings(self, kind: str) -> dict:
        """The fields that change a sample's genome or value for ``kind`` (not the counts): stored in the file."""
        fields = {"val_images": self.val_images(kind), "eval_batch": self.eval_batch,
                  "channels_last": self.channels_last, "draw": self.draw, "draw_candidates": self.draw_candidates}
        if kind == "fp32":
            fields.update(bn_calib_images=self.fp32_bn_calib_images, bn_calib_batch=self.bn_calib_batch)
        return fields


SAMPLE_PRESETS = {
    "smoke": SampleConfig("smoke", n_fp32=32, n_quant=24, n_retest=4, fp32_val_images=200, quant_val_images=200,
                          fp32_bn_calib_images=64, bn_calib_batch=32, eval_batch=128),
    "default": SampleConfig("default"),
    "full": SampleConfig("full", n_fp32=4000, n_quant=600, n_retest=60, fp32_val_images=0, quant_val_images=0,
                         fp32_bn_calib_images=2000),
}


def get_sample_config(preset: str) -> SampleConfig:
    """Sample settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(SAMPLE_PRESETS, preset, "sample")
