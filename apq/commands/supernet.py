"""``apq supernet``: train the once-for-all supernet with progressive shrinking (resumable).

Run by ``torchrun`` (e.g. ``torchrun --standalone --nproc_per_node 2 -m apq supernet``), it trains
data-parallel over the processes torchrun starts; see :mod:`apq.supernet.distributed`.
"""
from __future__ import annotations

import logging

from apq.commands.common import add_common, resolve_config_args

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("supernet", help="train the once-for-all supernet (progressive shrinking; resumes if "
                       "interrupted; data-parallel when started by torchrun)")
    add_common(p)
    p.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")
    p.add_argument("--force", action="store_true", help="discard any checkpoint and supernet.pt and train from scratch")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api
    from apq.supernet.distributed import World

    world = World.from_env()
    if not world.is_main:  # one log and one progress bar for the whole run: rank 0's
        logging.getLogger().setLevel(logging.WARNING)
    path = api.supernet(args.space, preset=resolve_config_args(args), data_dir=args.data_dir, force=args.force,
                        world=world)
    if world.is_main:
        print(path)
    return 0
