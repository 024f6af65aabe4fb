"""``apq supernet``: train the once-for-all supernet with progressive shrinking (resumable)."""
from __future__ import annotations

import logging

from apq.commands.common import add_common, resolve_preset

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("supernet", help="train the once-for-all supernet (progressive shrinking; resumes if interrupted)")
    add_common(p)
    p.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")
    p.add_argument("--force", action="store_true", help="discard any checkpoint and supernet.pt and train from scratch")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.space.registry import create_space
    from apq.supernet.build import train_supernet
    from apq.supernet.config import get_supernet_config

    space = create_space(args.space)
    preset = resolve_preset(args)
    path = train_supernet(space, preset, get_supernet_config(preset.name), args.data_dir, force=args.force)
    print(path)
    return 0
