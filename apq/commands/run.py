"""``apq run STAGE``: every stage up to and including STAGE, in one process, each one a no-op when
its artifact is up to date.

    apq run search --target fpga --preset smoke [--set search.population=200] [--config run.toml]

The stages come from the stage table (:mod:`apq.stages.table`): ``apq run search`` runs data,
supernet, fp32 and quantized samples, predictor, search and then verify (a search is always
verified). Each stage checks its own artifact with the one freshness check and does nothing when
it is fresh, finishes it when interrupted, and refuses one made with other settings unless that
stage is rerun with ``--force``. Why one process: a separate ``apq`` per stage pays Python's and
torch's start-up (about 1.1 s here) each time.

``--set`` and ``--config`` are checked once, then handed verbatim to every stage that takes
settings (all but data and export) on its own command line (:func:`apq.stages.table.command_line`),
where the stage resolves them as when it is run alone.
"""
from __future__ import annotations

import argparse
import logging
import os
import time
import shlex

from apq.presets import PRESETS
from apq.stages.table import BY_NAME, RUNNABLE, RunOptions, command_line, plan, show

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("run", help="run every stale stage up to STAGE in one process (search is followed by verify)")
    p.add_argument("stage", choices=RUNNABLE, metavar="STAGE", help=f"one of {', '.join(RUNNABLE)}")
    p.add_argument("--space", default="fmnist", help="registered space or a space .json (default fmnist)")
    p.add_argument("--target", help="registered target (bitfusion, fpga, cpu) or a LUT .json (search, verify, export)")
    p.add_argument("--preset", default="default", choices=sorted(PRESETS), help="run size (default: default)")
    p.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")
    p.add_argument("--latency", metavar="MS", help="search: latency limit in ms")
    p.add_argument("--energy", metavar="MJ", help="search: energy limit in mJ")
    p.add_argument("--run", dest="run_name", metavar="NAME",
                   help="name of the search run (default: YYYYmmdd-HHMMSS-p<pid>)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for every stage, e.g. search.population=200 (repeatable)")
    p.add_argument("--config", metavar="FILE", help="settings file (TOML or JSON) for every stage")
    p.add_argument("--args", dest="extra", action="append", default=[], metavar="COMMAND=FLAGS",
                   help="more flags for one command, e.g. 'search=--baselines' or 'samples=--jobs 2' (repeatable)")
    p.set_defaults(run=run)


def _extra(items: list[str]) -> dict:
    from apq.errors import UserError

    out: dict[str, list[str]] = {}
    for item in items:
        command, sep, flags = item.partition("=")
        if not sep or command not in {stage.command[0] for stage in BY_NAME.values()}:
            raise UserError(f"--args '{item}' must be COMMAND=FLAGS with COMMAND one of "
                            f"{', '.join(sorted({s.command[0] for s in BY_NAME.values()}))}")
        out.setdefault(command, []).extend(shlex.split(flags))
    return out


def stage_lines(args: argparse.Namespace) -> list[list[str]]:
    """The command line of every stage ``apq run`` runs for ``args`` (this is where --set/--config are forwarded)."""
    from apq.errors import UserError

    stages = plan(args.stage)
    if args.target is None and any(s.name == "search" for s in stages):
        raise UserError(f"apq run {args.stage} needs --target (bitfusion, fpga, cpu or a LUT .json)")
    options = RunOptions(args.space, args.preset, args.target, args.data_dir, args.latency, args.energy,
                         tuple(args.sets), args.config, _run_name(stages, args.run_name), _extra(args.extra))
    return [command_line(stage, options) for stage in stages]


def _run_name(stages, name: str | None) -> str | None:
    """The search run's name, handed to search and then to verify and export, so that another
    process searching the same target at once cannot make them act on its run instead
    (default ``YYYYmmdd-HHMMSS-p<pid>``)."""
    if not any(stage.name == "search" for stage in stages):
        return None
    return name or f"{time.strftime('%Y%m%d-%H%M%S')}-p{os.getpid()}"


def run_steps(lines: list[list[str]], what: str = "run") -> int:
    """Parse every line with the real parser, then run them in order; stops at the first failure.
    ``what`` names the command in the log ("run step 2/7: apq ...")."""
    from apq.commands.parser import parse_steps

    steps = parse_steps(lines)  # a bad line stops the run before anything runs
    for number, (words, step) in enumerate(zip(lines, steps), 1):
        log.info("%s step %d/%d: %s", what, number, len(steps), show(words))
        started = time.perf_counter()
        code = step.run(step)
        log.info("%s in %.1f s: %s", "failed" if code else "done", time.perf_counter() - started, show(words))
        if code:
            return code
    return 0


def run(args) -> int:
    from apq.config import apply_settings, preset_config

    apply_settings(preset_config(args.preset), args.sets, args.config)  # a bad setting stops it before any stage
    return run_steps(stage_lines(args))
