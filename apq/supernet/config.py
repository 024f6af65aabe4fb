"""Supernet training settings: a typed, validated dataclass and one named instance per preset.

Why the defaults, in one line each (the measurements: docs/decisions.md "Supernet"):

- SGD with Nesterov momentum, per-phase cosine schedule with warm-up: the MobileNetV2 /
  once-for-all recipe, converging in few epochs; shrinking phases restart at a lower peak rate.
- Epochs per phase 4.5 / 0.15 / 0.25 / 3.5: the shortest schedule that reached the supernet's
  accuracy targets; the channel phase sets the smallest sub-net's accuracy.
- Recipe ``progressive`` (phases above) or ``sandwich`` (BigNAS-style: every step trains the
  largest, the smallest and ``sandwich_random`` random sub-nets, the largest teaching the others
  in the same step); ``epochs_sandwich`` 3.2 trains in about as many seconds as the progressive
  default (1306 s against 1281 s here), the budget the two were compared at (``bench/supernet.py``;
  docs/decisions.md "Supernet recipe").
- Label smoothing and soft-target KD from the full network: once-for-all's losses.
- Horizontal flips only (crops in ``full``): at this budget the network underfits.
- Batch 128, channels-last, evaluation batches of 256: fastest per image on CPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.settings import Settings, settings_for

#: Progressive-shrinking phases in order; each makes one more dimension elastic.
PHASES = ("full", "kernel", "depth", "channels")
#: Training recipes (``SupernetConfig.recipe``) and the phases each runs, in order.
RECIPES = {"progressive": PHASES, "sandwich": ("sandwich",)}


@dataclass(frozen=True)
class SupernetConfig(Settings):
    """How the supernet is trained, re-calibrated and evaluated. Epochs may be fractional."""

    what = "supernet setting"

    name: str
    #: ``progressive``: the phases of :data:`PHASES`; ``sandwich``: one phase of sandwich steps.
    recipe: str = "progressive"
    #: Epochs (passes over the training split) of each phase, in :data:`PHASES` order.
    epochs_full: float = 4.5
    epochs_kernel: float = 0.15
    epochs_depth: float = 0.25
    epochs_channels: float = 3.5
    #: Epochs of the ``sandwich`` recipe (each step trains 2 + ``sandwich_random`` sub-nets).
    epochs_sandwich: float = 3.2
    sandwich_random: int = 2
    #: Cap on the optimisation steps of every phase (0 = no cap); the smoke preset uses it.
    max_steps_per_phase: int = 0
    batch_size: int = 128
    #: Peak learning rate of the ``full`` phase, and of the three shrinking phases.
    lr_full: float = 0.1
    lr_shrink: float = 0.05
    warmup_steps: int = 100
    momentum: float = 0.9
    #: L2 weight decay on conv and linear weights (not on BN, biases or kernel transforms).
    weight_decay: float = 4e-5
    label_smoothing: float = 0.1
    #: Weight of the soft-target distillation loss next to the hard loss (0 disables KD).
    kd_weight: float = 1.0
    kd_temperature: float = 1.0
    #: Shrinking phases train the phase's largest and smallest sub-nets on every 4th step each
    #: (see :func:`apq.supernet.train.phase_genome`); False: uniform sampling only (once-for-all).
    sandwich: bool = True
    #: Horizontal flips, and random crops after ``crop_pad`` pixels of zero padding (0 = no crops).
    flip: bool = True
    crop_pad: int = 0
    #: Write the resumable checkpoint every this many steps (and at the end of each phase).
    checkpoint_every: int = 100
    #: Training images used to re-calibrate BN statistics of a chosen sub-net, and batch size.
    bn_calib_images: int = 2000
    bn_calib_batch: int = 500
    eval_batch: int = 256
    #: Use only this many training / test images (0 = all); the smoke preset uses small subsets.
    train_subset: int = 0
    test_subset: int = 0
    #: Torch intra-op threads (0 = one per available CPU core).
    num_threads: int = 0
    channels_last: bool = True

    def __post_init__(self) -> None:
        problems = []
        if self.recipe not in RECIPES:
            problems.append(f"recipe must be one of {', '.join(RECIPES)}, not '{self.recipe}'")
        if min(self.epochs_full, self.epochs_kernel, self.epochs_depth, self.epochs_channels,
               self.epochs_sandwich) <= 0:
            problems.append("every phase needs epochs > 0")
        positive = ("batch_size", "checkpoint_every", "bn_calib_images", "bn_calib_batch", "eval_batch")
        problems += [f"{f} must be >= 1" for f in positive if getattr(self, f) < 1]
        non_negative = ("max_steps_per_phase", "warmup_steps", "weight_decay", "kd_weight", "crop_pad",
                        "train_subset", "test_subset", "num_threads", "sandwich_random")
        problems += [f"{f} must be >= 0" for f in non_negative if getattr(self, f) < 0]
        if self.lr_full <= 0 or self.lr_shrink <= 0:
            problems.append("learning rates must be > 0")
        if not 0 <= self.momentum < 1 or not 0 <= self.label_smoothing < 1:
            problems.append("momentum and label_smoothing must be in [0, 1)")
        if self.kd_temperature <= 0:
            problems.append("kd_temperature must be > 0")
        if problems:
            raise ValueError(f"invalid supernet config '{self.name}': {'; '.join(problems)}")

    @property
    def phases(self) -> tuple[str, ...]:
        """The phases this recipe trains, in order."""
        return RECIPES[self.recipe]

    @property
    def phase_epochs(self) -> tuple[float, ...]:
        """Epochs of each of :attr:`phases`."""
        if self.recipe == "sandwich":
            return (self.epochs_sandwich,)
        return (self.epochs_full, self.epochs_kernel, self.epochs_depth, self.epochs_channels)

    def phase_lr(self, phase: str) -> float:
        return self.lr_full if phase in ("full", "sandwich") else self.lr_shrink


SUPERNET_PRESETS = {
    # A few steps per phase on small subsets: exercises every code path in seconds. One thread:
    # batches this small gain nothing from more, and tests share the cores.
    "smoke": SupernetConfig("smoke", epochs_full=1, epochs_kernel=1, epochs_depth=1, epochs_channels=1,
                            epochs_sandwich=1, max_steps_per_phase=3, batch_size=32, warmup_steps=1, checkpoint_every=2,
                            bn_calib_images=64, bn_calib_batch=32, eval_batch=128,
                            train_subset=256, test_subset=128, lr_full=0.05, lr_shrink=0.02, num_threads=1),
    "default": SupernetConfig("default"),
    "full": SupernetConfig("full", epochs_full=10, epochs_kernel=2, epochs_depth=3, epochs_channels=6, crop_pad=2),
}


def get_supernet_config(preset: str) -> SupernetConfig:
    """Supernet settings of a preset name; :class:`UserError` for an unknown one."""
    return settings_for(SUPERNET_PRESETS, preset, "supernet")
