"""Registered search spaces (timm-style): a builder per name returning its :class:`SpaceConfig`."""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

from apq.errors import UserError
from apq.space.config import SpaceConfig, StageConfig
from apq.space.space import SearchSpace

_SPACES: dict[str, Callable[[], SpaceConfig]] = {}


def register_space(name: str):
    """Decorator registering a zero-argument builder that returns a :class:`SpaceConfig`."""

    def wrap(builder: Callable[[], SpaceConfig]):
        _SPACES[name] = builder
        return builder

    return wrap


def space_names() -> list[str]:
    """Registered space names, sorted (the CLI's choices and the test matrix)."""
    return sorted(_SPACES)


@lru_cache(maxsize=None)
def create_space(name: str) -> SearchSpace:
    """Build a registered space, or a user space from a JSON config path (``*.json``)."""
    if name in _SPACES:
        return SearchSpace(_SPACES[name]())
    if name.endswith(".json"):
        return SearchSpace(SpaceConfig.from_json(name))
    raise UserError(f"unknown space '{name}'; choose one of {', '.join(space_names())} or a space .json path")


def _fmnist_config(name: str, bits: tuple[int, ...], description: str) -> SpaceConfig:
    """The Fashion-MNIST space with the bit menu ``bits``; everything else is shared."""
    return SpaceConfig(
        name=name, input_size=28, input_channels=1, num_classes=10,
        stem_width=16, stem_stride=1, first_block_width=16, final_width=256,
        stages=(StageConfig(24, 2, (1, 2, 3)), StageConfig(40, 2, (1, 2, 3)),
                StageConfig(64, 1, (1, 2, 3)), StageConfig(96, 1, (1,))),
        kernels=(3, 5, 7), expand_min=2.0, expand_max=6.0, channel_step=8, bits=bits,
        dataset="fashion-mnist", description=description,
    )


@register_space("fmnist")
def fmnist() -> SpaceConfig:
    """Small MobileNetV2-style space for 28x28 grayscale input, sized for 2 CPU cores.

    Resolution 28 -> 14 -> 7 over the stages (no stride at 7 so every size stays exact);
    middle channels 2x-6x of the block input (wider pruning range than APQ's 4x-6x so the
    smallest sub-nets are cheap enough to matter on the FPGA and CPU targets). Bits {2,4,6,8}
    for pointwise and depthwise weights and activations: at {4,6,8} 4-bit is almost free on
    Fashion-MNIST, so allocation barely moves accuracy; 2-bit choices cost points to tens of
    points depending on the layer type (docs/decisions.md), and BitFusion and the FPGA overlay
    run 2-bit operands natively (HAQ searched 2..8 bits on both).
    """
    return _fmnist_config("fmnist", (2, 4, 6, 8),
                          "MobileNetV2-style space for Fashion-MNIST (28x28x1), bits {2,4,6,8}")


@register_space("fmnist-apq")
def fmnist_apq() -> SpaceConfig:
    """``fmnist`` with APQ's exact bit menu {4,6,8} (everything else equal)."""
    return _fmnist_config("fmnist-apq", (4, 6, 8),
                          "MobileNetV2-style space for Fashion-MNIST (28x28x1), APQ's bits {4,6,8}")


@register_space("imagenet-apq")
def imagenet_apq() -> SpaceConfig:
    """APQ's ImageNet space: OFA MobileNetV2 backbone, 21 searchable blocks, 224x224 input.

    Widths 24/40/80/96/192/320, strides 2,2,2,1,2,1, depth {2,3,4} per stage and one block in
    the last stage, kernels {3,5,7}, middle channels 4x..6x of cin in steps of 8, bits {4,6,8}
    (from the APQ release; tests/data/reference/README.md).
    """
    depths = (2, 3, 4)
    return SpaceConfig(
        name="imagenet-apq", input_size=224, input_channels=3, num_classes=1000,
        stem_width=32, stem_stride=2, first_block_width=16, final_width=1280,
        stages=(StageConfig(24, 2, depths), StageConfig(40, 2, depths), StageConfig(80, 2, depths),
                StageConfig(96, 1, depths), StageConfig(192, 2, depths), StageConfig(320, 1, (1,))),
        kernels=(3, 5, 7), expand_min=4.0, expand_max=6.0, channel_step=8, bits=(4, 6, 8),
        dataset="imagenet",
        description="APQ's exact ImageNet space (OFA MobileNetV2, 772-dim encoding)",
    )
