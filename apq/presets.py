"""The run-wide section of a preset: its name, seed, validation split and cpu-timing repeats.

A preset is a typed, validated dataclass instance; every stage has its own section (see
:mod:`apq.config`, which gathers them into one :class:`apq.config.RunConfig`).
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.errors import UserError
from apq.settings import Settings

#: ``val_size`` value meaning "a tenth of the train split, at most 5000" (see :func:`apq.data.splits.resolve_val_size`).
AUTO = "auto"


@dataclass(frozen=True)
class Preset(Settings):
    """Settings every stage shares. ``seed`` fixes sampling, training order and search."""

    what = "preset override"

    name: str
    seed: int = 0
    #: Timed repeats per conv shape for the measured ``cpu`` target (median is kept).
    cpu_latency_repeats: int = 7
    #: Validation images carved from the training split (never used to train the supernet);
    #: "auto" scales with the dataset: 5000 on Fashion-MNIST, a tenth of a smaller train split.
    val_size: int | str = AUTO

    def __post_init__(self) -> None:
        problems = []
        if self.cpu_latency_repeats < 1:
            problems.append("cpu_latency_repeats must be >= 1")
        if self.val_size != AUTO and (isinstance(self.val_size, bool) or not isinstance(self.val_size, int)
                                      or self.val_size < 1):
            problems.append(f"val_size must be an integer >= 1 or '{AUTO}'")
        if problems:
            raise ValueError(f"invalid preset '{self.name}': {'; '.join(problems)}")


PRESETS = {
    "smoke": Preset("smoke", cpu_latency_repeats=2, val_size=500),
    "default": Preset("default"),
    "full": Preset("full", cpu_latency_repeats=15, val_size=10000),
}


def get_preset(name: str) -> Preset:
    """Preset by name; :class:`UserError` listing the choices for an unknown one."""
    if name not in PRESETS:
        raise UserError(f"unknown preset '{name}'; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
