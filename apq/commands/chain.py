"""``apq chain``: several apq command lines run one after another in one process.

    apq chain 'supernet --preset smoke' 'samples --preset smoke'

A thin alias over the runner of ``apq run`` (:func:`apq.commands.run.run_steps`): each argument
is one command line (split like a shell would); all are parsed before any runs, and the chain
stops at the first that fails. ``apq run STAGE`` builds these lines from the stage table; chain
is for a hand-picked sequence.
"""
from __future__ import annotations

import shlex

from apq.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("chain", help="run several apq command lines in order in one process (stops at the first failure)")
    p.add_argument("lines", nargs="+", metavar="COMMAND", help="one quoted apq command line, e.g. 'predictor --preset smoke'")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.commands.run import run_steps

    lines = [shlex.split(line) for line in args.lines]
    for words in lines:
        if not words or words[0] in ("chain", "run"):
            raise UserError(f"apq chain: '{' '.join(words)}' cannot be a step; give apq command lines such as 'predictor'")
    return run_steps(lines, "chain")
