"""Settings of one quantized evaluation: calibration, quantization-aware fine-tune, evaluation.

A typed, validated dataclass and one named instance per preset (``smoke``, ``default``,
``full``). Why the defaults, in one line each (the measurements: docs/decisions.md "Quantization"):

- Weights per output channel: per-tensor weights lost accuracy at W4A4 before and after the fine-tune.
- Activation steps learned (LSQ) from MSE-optimal calibration, each at a rate relative to its
  size: even with fixed steps after a short fine-tune, ahead after a long one; one absolute rate lost.
- ``qat_steps=20`` of batch 64 at Adam lr 3e-4: ranked sub-nets best per CPU second.
- BN statistics frozen during the fine-tune: a few dozen small batches give noisy statistics.
- Batches of 100 for BN calibration and 64 for evaluation: fastest per image on CPU (cache).
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
