"""Flags and helpers shared by the subcommands."""
from __future__ import annotations

import argparse

from apq.presets import PRESETS, Preset, get_preset


def add_common(parser: argparse.ArgumentParser, space=True, target=False, preset=True) -> None:
    """Flags shared by stages: --space, --target, --preset (validated when used)."""
    if space:
        parser.add_argument("--space", default="fmnist", help="registered space or a space .json (default fmnist)")
    if target:
        parser.add_argument("--target", required=True, help="registered target (bitfusion, fpga, cpu) or a LUT .json")
    if preset:
        parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="run size (default: default)")


def resolve_preset(args: argparse.Namespace) -> Preset:
    """The preset named by ``--preset`` (argparse has already checked the name)."""
    return get_preset(args.preset)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a bad value becomes argparse's one-line error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value
