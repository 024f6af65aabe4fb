"""The ``apq`` argument parser, built from command modules (each contributes ``add_parser``).

Here, not in :mod:`apq.cli`, so that ``apq run`` and ``apq chain`` can parse their steps with
the real stage parsers without importing the CLI that imports them.
"""
from __future__ import annotations

import argparse

from apq import __version__
from apq.commands import data, export, finetune, lut, predictor, samples, search, space, supernet, verify

#: The commands a step of ``apq run`` / ``apq chain`` may be.
STEP_COMMANDS = (data, space, lut, supernet, samples, predictor, search, verify, finetune, export)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag or value prints one line (not usage) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"apq: error: {message} (see '{self.prog} --help')\n")


def build_parser(commands=STEP_COMMANDS) -> argparse.ArgumentParser:
    """The parser of ``commands`` (modules with ``add_parser(subparsers)``)."""
    parser = OneLineParser(prog="apq", description="Joint search of network architecture, channel pruning and "
                           "mixed-precision quantization for a hardware target (APQ-style).")
    parser.add_argument("--version", action="version", version=f"apq {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for module in commands:
        module.add_parser(sub)
    return parser


def parse_steps(lines: list[list[str]]) -> list[argparse.Namespace]:
    """Each step's arguments parsed by the real parser, all before any runs (a bad one stops them all)."""
    parser = build_parser()
    return [parser.parse_args(words) for words in lines]
