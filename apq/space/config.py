"""Search-space configuration: the small, user-editable description a space is built from."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from apq.errors import UserError


@dataclass(frozen=True)
class StageConfig:
    """One stage of MobileNetV2-style blocks: output ``width``, ``stride`` of its first block,
    and the allowed ``depths`` (a stage keeps its first d blocks, as in once-for-all)."""

    width: int
    stride: int
    depths: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "depths", tuple(sorted(int(d) for d in self.depths)))
        if self.width < 1 or self.stride not in (1, 2) or not self.depths or min(self.depths) < 1:
            raise ValueError(f"invalid stage {self}: width >= 1, stride 1 or 2, depths >= 1 required")


@dataclass(frozen=True)
class SpaceConfig:
    """Everything that defines a space. Sizes are pixels, widths are channels.

    Fixed parts (not searched): the stem conv (``stem_width``, ``stem_stride``, 3x3), the first
    block (depthwise 3x3 + pointwise to ``first_block_width``, expand ratio 1), the final 1x1
    conv to ``final_width`` and the classifier. Searched per block: depthwise ``kernels``, middle
    channels (APQ's fine-grained pruning: from ``expand_min * cin`` to ``expand_max * cin`` in
    steps of ``channel_step``) and the four bit widths from ``bits``; per stage: the depth.
    """

    name: str
    input_size: int
    input_channels: int
    num_classes: int
    stem_width: int
    stem_stride: int
    first_block_width: int
    final_width: int
    stages: tuple[StageConfig, ...]
    kernels: tuple[int, ...] = (3, 5, 7)
    expand_min: float = 4.0
    expand_max: float = 6.0
    channel_step: int = 8
    bits: tuple[int, ...] = (4, 6, 8)
    dataset: str = "fashion-mnist"
    #: Bit width of the fixed stem, first block, final conv and classifier (8 as in APQ).
    fixed_bits: int = 8
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        stages = tuple(s if isinstance(s, StageConfig) else StageConfig(**s) for s in self.stages)
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "kernels", tuple(sorted(self.kernels)))
        object.__setattr__(self, "bits", tuple(sorted(self.bits)))
        problems = []
        if not self.stages:
            problems.append("at least one stage")
        if any(k % 2 == 0 or k < 1 for k in self.kernels) or not self.kernels:
            problems.append("odd kernel sizes")
        if not 0 < self.expand_min <= self.expand_max or self.channel_step < 1:
            problems.append("0 < expand_min <= expand_max and channel_step >= 1")
        if not self.bits or any(not 1 <= b <= 32 for b in self.bits):
            problems.append("bit widths in 1..32")
        if self.input_size < 1 or self.input_channels < 1 or self.num_classes < 2:
            problems.append("positive input size/channels and >= 2 classes")
        if problems:
            raise ValueError(f"invalid space '{self.name}': needs {', '.join(problems)}")

    def to_dict(self) -> dict:
        """JSON-serialisable form (round-trips through :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SpaceConfig":
        """Inverse of :meth:`to_dict`; raises :class:`UserError` on unknown or missing keys."""
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            raise UserError(f"bad space config: {err}; fix those fields of the space config") from None

    @classmethod
    def from_json(cls, path: str | Path) -> "SpaceConfig":
        """Load a user-defined space from a JSON file holding :meth:`to_dict`'s keys."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise UserError(f"cannot read space config {path}: {err}") from None
        return cls.from_dict(data)
