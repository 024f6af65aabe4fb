"""The ``apq`` command line: one subcommand per pipeline stage, and ``apq run`` (see ``apq --help``).

User errors end with a single ``apq: error: ...`` line on stderr and exit code 2.
"""
from __future__ import annotations

import argparse
import logging
import sys

from apq.commands import chain, run
from apq.commands.parser import STEP_COMMANDS, build_parser as _build
from apq.errors import UserError

COMMANDS = (*STEP_COMMANDS, run, chain)


def build_parser() -> argparse.ArgumentParser:
    """The full parser: every stage command, ``run`` and ``chain``."""
    return _build(COMMANDS)


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
