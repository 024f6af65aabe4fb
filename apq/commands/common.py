"""Flags and helpers shared by the subcommands."""
from __future__ import annotations

import argparse

from apq.presets import PRESETS


def add_common(parser: argparse.ArgumentParser, space=True, target=False, preset=True) -> None:
    """Flags shared by stages: --space, --target, and --preset with --config and --set (validated when used)."""
    if space:
        parser.add_argument("--space", default="fmnist", help="registered space or a space .json (default fmnist)")
    if target:
        parser.add_argument("--target", required=True, help="registered target (bitfusion, fpga, cpu) or a LUT .json")
    if preset:
        parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="run size (default: default)")
        add_config_args(parser)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    """--config FILE and --set KEY=VALUE (repeatable): settings on top of the preset."""
    parser.add_argument("--config", dest="config_file", metavar="FILE",
                        help="TOML or JSON file of settings, one table per section (e.g. [search] population = 200)")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                        help="one setting, e.g. --set search.population=200 (repeatable; applied after --config)")


def resolve_config_args(args: argparse.Namespace, base=None, **shorthands: str):
    """The :class:`apq.config.RunConfig` of ``--preset`` (or ``base``), ``--config`` and ``--set``.

    ``shorthands`` maps a flag's argparse name to the setting it stands for (``generations=
    "search.generations"``); each flag given is applied last.
    """
    from apq.config import apply_settings, preset_config

    config = apply_settings(base or preset_config(args.preset), args.settings, args.config_file)
    for dest, key in shorthands.items():
        value = getattr(args, dest)
        if value is not None:
            config = config.override({key: value}, f"--{dest.replace('_', '-')}")
    return config


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0 (a bad value becomes argparse's one-line error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must be >= 0")
    return value


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """RUN, --space, --target and --data-dir of the commands that work on a search run (verify, export)."""
    parser.add_argument("run_name", nargs="?", metavar="RUN",
                        help="run folder or run name (default: the latest run of --space/--target)")
    parser.add_argument("--space", default="fmnist", help="registered space or a space .json (default fmnist)")
    parser.add_argument("--target", help="target of the run (needed to find the latest run)")
    parser.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")


def space_and_run(args: argparse.Namespace, verb: str):
    """(space, run folder, its config.json) of ``RUN`` or of the latest run of ``--target``, checked to belong to
    ``--space``; ``verb`` names the command in the error when neither is given."""
    from apq.api import locate_run

    return locate_run(args.run_name, args.space, args.target, verb)
