"""Settings of one quantized evaluation: calibration, quantization-aware fine-tune, evaluation.

A typed, validated dataclass and one named instance per preset (``smoke``, ``default``,
``full``). Why the defaults (measured on the 2-core host with the default supernet, sub-nets
of random genomes, 2000 validation images; README "Samples" has the tables):

- Weights per output channel (``bench/quant.py``, 8 random sub-nets at W4A4 in every searchable
  block, paired, supernet of 2026-12-02): per-tensor weights lost 2.25 +- 2.16 points before any
  fine-tune (per-channel won 7/8) and 0.19 +- 0.68 after the 20-step fine-tune (5/8).
- Activation steps learned (LSQ) during the fine-tune, initialised by MSE-optimal calibration,
  each at its own Adam rate ``range_lr`` x its calibrated size. Against keeping the calibrated
  steps fixed: even after 20 steps (fixed minus learned +0.04 +- 0.47) and ahead in 6 of 8 after
  120 (learned minus fixed +0.04 +- 0.35), so kept for the longer fine-tune of ``apq verify``. Relative rates of
  0.01 and 0.1 were 0.19 and 0.09 points below 0.03. One shared absolute rate (``qat_lr`` for the
  steps too, the earlier design) lost 0.61 +- 0.33 points to fixed steps (7 of 8): Adam moves every
  parameter by about its rate, and the calibrated steps span orders of magnitude.
- ``qat_steps=20`` of batch 64, Adam lr 3e-4 (best of 1e-4..3e-3 after 30 steps on W4A4 sub-nets).
  Ranking of 20 random sub-nets with their sampled bit policies against a 120-step fine-tune
  (``bench/quant.py --subnets 0 --ranked 20``): Kendall tau 0.46 / 0.50 / 0.66 / 0.54 after
  0 / 10 / 20 / 40 steps, at 3.3 / 7.6 / 11.8 / 19.9 CPU s per sample. 20 steps ranks best; two
  earlier runs over 10 sub-nets each moved by ~0.2 in tau, so 40 is not reliably worse, only
  1.7x dearer.
- BN statistics frozen during the fine-tune (taken from the re-calibration): a few dozen
  batches of 64 give noisy batch statistics, and the frozen ones are those of the sub-net.
- Batches of 100 for BN calibration and of 64 for evaluation: on this CPU smaller batches keep
  activations in cache (0.69 vs 1.10 ms per image at 250, 0.65 vs 0.83 ms for evaluation).
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for


@dataclass(frozen=True)
class QuantConfig(Settings):
    """How a sub-net with a bit policy is quantized, fine-tuned and evaluated."""

    what = "quantization setting"

    name: str
    #: Weights: one scale per output channel (True) or one per tensor (False).
    per_channel: bool = True
    #: Activation steps learned during the fine-tune (LSQ) or kept at their calibrated value.
    learn_ranges: bool = True
    #: Training images used to re-estimate BN statistics of the sub-net, and the batch size.
    bn_calib_images: int = 1000
    bn_calib_batch: int = 100
    #: Training images whose activations set the initial quantization ranges.
    range_calib_images: int = 256
    #: Quantization-aware fine-tune: steps of ``qat_batch`` training images (0 = none).
    qat_steps: int = 20
    qat_batch: int = 64
    #: Adam learning rate of weights and BN affines during the fine-tune; cosine-decayed to 0.
    qat_lr: float = 3e-4
    #: Adam learning rate of each LSQ step, as a fraction of its calibrated size (relative rate).
    range_lr: float = 0.03
    #: Loss = hard_weight * cross-entropy + kd_weight * T^2 * soft cross-entropy to the fp32 teacher.
    hard_weight: float = 1.0
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    #: Keep BN statistics fixed during the fine-tune (True) or update them from each batch.
    freeze_bn: bool = True
    eval_batch: int = 64
    channels_last: bool = True

    def __post_init__(self) -> None:
        positive = ("bn_calib_images", "bn_calib_batch", "range_calib_images", "qat_batch", "eval_batch")
        problems = [f"{f} must be >= 1" for f in positive if getattr(self, f) < 1]
        problems += [f"{f} must be >= 0" for f in ("qat_steps", "hard_weight", "kd_weight") if getattr(self, f) < 0]
        if self.qat_lr <= 0 or self.range_lr <= 0 or self.kd_temperature <= 0:
            problems.append("qat_lr, range_lr and kd_temperature must be > 0")
        if self.hard_weight == 0 and self.kd_weight == 0:
            problems.append("hard_weight and kd_weight cannot both be 0")
        if problems:
            raise ValueError(f"invalid quant config '{self.name}': {'; '.join(problems)}")


QUANT_PRESETS = {
    # Seconds per sample: tiny calibration sets, two fine-tune steps.
    "smoke": QuantConfig("smoke", bn_calib_images=64, bn_calib_batch=32, range_calib_images=32,
                         qat_steps=2, qat_batch=16, eval_batch=128),
    "default": QuantConfig("default"),
    "full": QuantConfig("full", bn_calib_images=2000, range_calib_images=512, qat_steps=80),
}


def get_quant_config(preset: str) -> QuantConfig:
    """Quantization settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(QUANT_PRESETS, preset, "quantization")
