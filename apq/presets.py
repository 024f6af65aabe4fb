"""Named run-size presets (``smoke`` for tests, ``default``, ``full``).

A preset is a typed, validated dataclass instance; the CLI overrides fields and the resolved
preset is saved with every artifact. Later pipeline stages add their own settings here.
"""
from __future__ import annotations

from dataclasses import dataclass

from apq.errors import UserError
from apq.settings import Settings


@dataclass(frozen=True)
class Preset(Settings):
    """Sizes of every stage. ``seed`` fixes sampling, training order and search."""

    what = "preset override"

    name: str
    seed: int = 0
    #: Timed repeats per conv shape for the measured ``cpu`` target (median is kept).
    cpu_latency_repeats: int = 7
    #: Validation images carved from the training split (never used to train the supernet).
    val_size: int = 5000

    def __post_init__(self) -> None:
        if self.cpu_latency_repeats < 1 or self.val_size < 1:
            raise ValueError(f"invalid preset {self}")


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
