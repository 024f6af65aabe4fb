"""The ``apq`` command line: one subcommand per pipeline stage (see ``apq --help``).

User errors end with a single ``apq: error: ...`` line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import logging
import sys

from apq import __version__
from apq.commands import chain, data, lut, space, supernet, predictor, search, verify, samples, export
from apq.errors import UserError

COMMANDS = (data, space, lut, supernet, samples, predictor, search, verify, export, chain)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag or value prints one line (not usage) and exits 2."""

    def error(self, message: str):
        self.exit(2, f"apq: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; every subcommand module contributes ``add_parser``."""
    parser = OneLineParser(prog="apq", description="Joint search of network architecture, channel pruning and "
                           "mixed-precision quantization for a hardware target (APQ-style).")
    parser.add_argument("--version", action="version", version=f"apq {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``apq`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args) or 0
    except UserError as err:
        print(f"apq: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("apq: interrupted; finished work is kept, rerun to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
