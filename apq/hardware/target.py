"""The hardware-target interface and its registry (timm-style ``register_target``)."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from apq.errors import UserError
from apq.space.genome import ForbiddenChoice
from apq.space.layers import ConvLayers
from apq.space.space import SearchSpace


class HardwareTarget(ABC):
    """Maps conv layers to latency (ms) and energy (mJ) at the layers' bit widths."""

    name: str = ""
    #: False for targets where energy cannot be measured (``cpu``); asking for it is a user error.
    has_energy: bool = True
    #: Combinations this target refuses; genome operators repair genomes to avoid them.
    forbidden: tuple[ForbiddenChoice, ...] = ()
    #: Narrowest and widest weight/activation bit width this target runs (inclusive). 8 at most
    #: everywhere: the quantizer's integers and the ONNX export are int8/uint8.
    bit_range: tuple[int, int] = (1, 8)

    def check_bits(self, space: SearchSpace) -> None:
        """Refuse (:class:`UserError`) a space whose bit choices or ``fixed_bits`` this target cannot run."""
        low, high = self.bit_range
        used = sorted({int(b) for b in space.bit_choices} | {int(space.config.fixed_bits)})
        outside = [b for b in used if not low <= b <= high]
        if outside:
            raise UserError(f"target '{self.name}' runs {low}..{high}-bit weights and activations, but space "
                            f"'{space.name}' uses {outside}-bit; keep the space's bits and fixed_bits within "
                            f"{low}..{high}")

    @abstractmethod
    def layer_cost(self, layers: ConvLayers) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(latency_ms, energy_mj)``, each float64 of shape (len(layers),)."""

    def fixed_cost(self, head: ConvLayers, tail: ConvLayers) -> tuple[float, float, float, float]:
        """Return ``(head_ms, head_mj, tail_ms, tail_mj)`` for a space's fixed layers.

        The default sums :meth:`layer_cost`; table-based targets override it with their
        stored ``head``/``tail`` constants.
        """
        head_ms, head_mj = (float(np.sum(c)) for c in self.layer_cost(head))
        tail_ms, tail_mj = (float(np.sum(c)) for c in self.layer_cost(tail))
        return head_ms, head_mj, tail_ms, tail_mj

    @classmethod
    def from_preset(cls, preset) -> "HardwareTarget":
        """Instance sized by a :class:`apq.presets.Preset`; most targets have nothing to size."""
        return cls()

    def describe(self) -> dict:
        """JSON-serialisable description saved next to artifacts made with this target."""
        return {"name": self.name, "class": type(self).__name__}


_TARGETS: dict[str, type[HardwareTarget]] = {}


def register_target(name: str):
    """Class decorator adding a :class:`HardwareTarget` subclass to the registry under ``name``."""

    def wrap(cls):
        _TARGETS[name] = cls
        return cls

    return wrap


def target_names() -> list[str]:
    """Registered target names, sorted (the CLI's choices and the test matrix)."""
    _load_builtin_targets()
    return sorted(_TARGETS)


def create_target(name: str, preset=None, space: str | None = None) -> HardwareTarget:
    """Instantiate a registered target (sized by ``preset`` if given), or load a LUT file path.

    ``space`` (a space name) makes a LUT file made for another space a :class:`UserError`, as
    is an unknown name.
    """
    _load_builtin_targets()
    if name in _TARGETS:
        return _TARGETS[name].from_preset(preset) if preset is not None else _TARGETS[name]()
    if name.endswith(".json"):
        from apq.hardware.lut import load_lut_target

        return load_lut_target(name, space)
    raise UserError(f"unknown target '{name}'; choose one of {', '.join(sorted(_TARGETS))} or a LUT .json path")


def _load_builtin_targets() -> None:
    # Imported lazily so the registry module has no import cycle with the targets.
    from apq.hardware import bitfusion, cpu, fpga  # noqa: F401
