"""``apq chain``: several apq commands run one after another in one process.

    apq chain 'supernet --preset default' 'samples --preset default' 'predictor --preset default'

Each argument is one command line (split like a shell would). The commands run in order and the
chain stops at the first that fails, with that command's error and exit code. Why: every stage is
a no-op when its artifact is up to date, but a separate ``apq`` process per stage pays Python's
and torch's start-up (about 1.1 s here) each time; ``make search`` runs its seven stages as one chain.
"""
from __future__ import annotations

import logging
import shlex

from apq.errors import UserError

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("chain", help="run several apq command lines in order in one process (stops at the first failure)")
    p.add_argument("lines", nargs="+", metavar="COMMAND", help="one quoted apq command line, e.g. 'predictor --preset smoke'")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.cli import build_parser

    parser = build_parser()
    lines = [shlex.split(line) for line in args.lines]
    for words in lines:
        if not words or words[0] == "chain":
            raise UserError(f"apq chain: '{' '.join(words)}' cannot be a step; give apq command lines such as 'predictor'")
    steps = [parser.parse_args(words) for words in lines]  # a bad line stops the chain before anything runs
    for number, (words, step) in enumerate(zip(lines, steps), 1):
        log.info("chain step %d/%d: apq %s", number, len(steps), shlex.join(words))
        code = step.run(step)
        if code:
            return code
    return 0
