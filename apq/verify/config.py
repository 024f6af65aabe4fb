"""Verification settings: a typed, validated dataclass and one named instance per preset.

The quantization-aware fine-tune of a winner (4 / 250 / 1000 steps in smoke / default / full) is
longer than the one each quantized *sample* got (``QuantConfig.qat_steps``: 2 / 20 / 80): a winner
is a model to deploy, fine-tuned once, not a ranking signal measured thousands of times. Every
other setting (calibration sizes, learning rate, distillation) is the preset's ``QuantConfig``.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for


@dataclass(frozen=True)
class VerifyConfig(Settings):
    """``qat_steps``: fine-tune steps of each verified candidate (batches of ``QuantConfig.qat_batch``);
    ``num_threads``: torch intra-op threads (0 = torch's default, one per core; 1 on a host shared
    with other jobs avoids idle OpenMP workers spin-waiting)."""

    what = "verify setting"

    name: str
    qat_steps: int = 250
    num_threads: int = 0

    def __post_init__(self) -> None:
        if self.qat_steps < 0 or self.num_threads < 0:
            raise ValueError(f"invalid verify config '{self.name}': qat_steps and num_threads must be >= 0")


VERIFY_PRESETS = {
    "smoke": VerifyConfig("smoke", qat_steps=4),
    # 250, not 300: within noise of 300 for less time (docs/decisions.md "Verification").
    "default": VerifyConfig("default", qat_steps=250),
    "full": VerifyConfig("full", qat_steps=1000),
}


def get_verify_config(preset: str) -> VerifyConfig:
    """Verification settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(VERIFY_PRESETS, preset, "verify")
