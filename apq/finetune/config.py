"""Settings of ``apq finetune``: a typed, validated dataclass and one named instance per preset.

Why the defaults, in one line each (the measurements: docs/decisions.md "Fine-tune"):

- ``epochs=2``: sized toward the ~10 minutes issue 18 asks for on a 2-core host for a
  default-sized winner (the measured time is in docs/decisions.md "Fine-tune"); verify's
  fine-tune (250 steps) is half an epoch.
- Teacher ``largest`` (the supernet's largest network): the most accurate fp32 network at hand;
  ``subnet`` (the winner's own fp32 sub-net, verify's teacher) stays selectable for the comparison.
- Adam at a peak of 3e-3, cosine to 0: the best of 1e-4, 1e-3, 3e-3 and 1e-2 over 2 epochs on one
  default winner (1e-4, first chosen to keep verify's calibrated ranges, recovered least);
  activation steps keep their own rate (``QuantConfig.range_lr``).
- Horizontal flips: the supernet's augmentation; without it several epochs overfit the training split.
- BN statistics updated from each batch (``freeze_bn`` False; the samples' 20-step fine-tune keeps
  them frozen, ``QuantConfig.freeze_bn``): +0.29 points on the test split, pooled over two default
  winners (exact McNemar p 0.007), over keeping them at their re-calibrated values.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for

#: Where the fp32 teacher comes from: the supernet's largest network, or the winner's own fp32 sub-net.
TEACHERS = ("largest", "subnet")


@dataclass(frozen=True)
class FinetuneConfig(Settings):
    """How the verified winner is fine-tuned; epochs may be fractional."""

    what = "finetune setting"

    name: str
    #: Passes over the training split.
    epochs: float = 2.0
    teacher: str = "largest"
    batch_size: int = 128
    #: Adam peak learning rate of weights and BN affines, with a linear warm-up of ``warmup_steps``.
    lr: float = 3e-3
    warmup_steps: int = 50
    #: Loss = hard_weight * cross-entropy + kd_weight * T^2 * soft cross-entropy to the teacher.
    hard_weight: float = 1.0
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    flip: bool = True
    #: Keep the BN statistics at their re-calibrated values (True) or update them from each batch.
    freeze_bn: bool = False
    #: Write the resumable checkpoint every this many steps.
    checkpoint_every: int = 200
    #: Cap on the steps (0 = none); the smoke preset uses it.
    max_steps: int = 0
    #: Torch intra-op threads (0 = one per core).
    num_threads: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.teacher not in TEACHERS:
            problems.append(f"teacher must be one of {', '.join(TEACHERS)}, not '{self.teacher}'")
        if self.epochs <= 0 or self.lr <= 0 or self.kd_temperature <= 0:
            problems.append("epochs, lr and kd_temperature must be > 0")
        problems += [f"{f} must be >= 1" for f in ("batch_size", "checkpoint_every") if getattr(self, f) < 1]
        non_negative = ("warmup_steps", "hard_weight", "kd_weight", "max_steps", "num_threads")
        problems += [f"{f} must be >= 0" for f in non_negative if getattr(self, f) < 0]
        if self.hard_weight == 0 and self.kd_weight == 0:
            problems.append("hard_weight and kd_weight cannot both be 0")
        if problems:
            raise ValueError(f"invalid finetune config '{self.name}': {'; '.join(problems)}")


FINETUNE_PRESETS = {
    # A few tiny steps: every code path (teacher, checkpoint, resume, report) in seconds.
    "smoke": FinetuneConfig("smoke", epochs=1, batch_size=16, warmup_steps=1, checkpoint_every=2, max_steps=6),
    "default": FinetuneConfig("default"),
    "full": FinetuneConfig("full", epochs=5),
}


def get_finetune_config(preset: str) -> FinetuneConfig:
    """Fine-tune settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(FINETUNE_PRESETS, preset, "finetune")
