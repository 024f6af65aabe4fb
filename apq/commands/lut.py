"""``apq lut``: build a space's cost table on a target and write it (cached) as a LUT file."""
from __future__ import annotations

import logging

from apq.commands.common import add_common, resolve_config_args
from apq.io import space_data_dir

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("lut", help="build and cache a target's lookup table for a space")
    add_common(p, target=True)
    p.add_argument("--format", default="own", choices=("own", "apq"),
                   help="own: this project's format; apq: APQ's key format, every shape x bit pair")
    p.add_argument("-o", "--output", help="output path (default data/<space>/lut/<target>[.apq].json)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.hardware.cost import CostTable, block_option_layers
    from apq.hardware.lut import distinct_layers, write_lut
    from apq.hardware.target import create_target
    from apq.space.registry import create_space

    space = create_space(args.space)
    target = create_target(args.target, resolve_config_args(args).preset, space.name)
    CostTable(space, target)  # refuses incomplete tables before anything is written
    layers = distinct_layers(list(block_option_layers(space)))
    fixed = target.fixed_cost(space.head_layers(), space.tail_layers())
    suffix = ".apq.json" if args.format == "apq" else ".json"
    path = args.output or space_data_dir(space.name) / "lut" / f"{target.name}{suffix}"
    write_lut(path, layers, target, fixed, space.name, args.format)
    log.info("wrote %d layer shapes x bit pairs to %s", len(layers), path)
    print(path)
    return 0
