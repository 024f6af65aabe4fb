"""``apq search``: joint architecture / channel / bit-policy search under a latency or energy limit."""
from __future__ import annotations

import argparse
import logging

from apq.commands.common import add_common, non_negative_int, resolve_config_args

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("search", help="genetic search (APQ-style GA + NSGA-II front) under a latency/energy limit")
    add_common(p, target=True)
    p.add_argument("--latency", type=_number, metavar="MS", help="latency limit in ms (default: the median latency of random valid genomes)")
    p.add_argument("--energy", type=_number, metavar="MJ", help="energy limit in mJ (not on the cpu target)")
    p.add_argument("--generations", type=non_negative_int, metavar="G", help="generations of every search (default: preset)")
    p.add_argument("--seed", type=int, help="search seed (default: the preset's)")
    p.add_argument("--baselines", action="store_true",
                   help="also run random search, uniform W8A8/W4A4 and sequential design with the same budget")
    p.add_argument("--run", dest="run_name", metavar="NAME", help="run folder name (default: YYYYmmdd-HHMMSS-s<seed>)")
    p.add_argument("--predictor", metavar="PATH", help="quantization-aware predictor checkpoint (default predictors/<space>/quant.pt)")
    p.epilog = ("Without --latency/--energy the winner is picked under the median latency of random valid "
                "genomes and the Pareto front spans the whole space.")
    p.set_defaults(run=run)


def _number(text: str) -> float:
    """argparse type: any float, NaN and negatives included (checked against the space later)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def run(args) -> int:
    from apq.errors import UserError
    from apq.hardware.cost import CostTable
    from apq.hardware.target import create_target
    from apq.search.constraint import resolve_constraint
    from apq.search.outputs import default_run_name, new_run_dir
    from apq.search.run import search_and_write
    from apq.space.genome import Rules
    from apq.space.registry import create_space

    settings = resolve_config_args(args, generations="search.generations")
    preset, config = settings.preset, settings.search
    space = create_space(args.space)
    seed = preset.seed if args.seed is None else args.seed
    target = create_target(args.target, preset, space.name)
    if args.energy is not None and not target.has_energy:  # before the cpu target times any layer
        raise UserError(f"target '{target.name}' cannot measure energy; constrain --latency instead")
    table = CostTable(space, target)
    rules = Rules(space, table.target.forbidden)
    constraint = resolve_constraint(table, rules, args.latency, args.energy, config.default_budget_samples, seed)
    run_dir = new_run_dir(space.name, table.target.name, args.run_name or default_run_name(seed))
    predictor, predictor_info = _load_predictor(space, args.predictor)
    fp32_predictor = _fp32_predictor(space, predictor_info) if args.baselines else None
    best = search_and_write(run_dir, table, predictor, predictor_info, constraint, config, preset, seed, args.baselines,
                            fp32_predictor)
    _print_summary(best, run_dir)
    return 0


def _load_predictor(space, path):
    from apq.predictor.load import load_quant_predictor, predictor_path

    predictor = load_quant_predictor(space, path)
    return predictor, {"path": str(path or predictor_path(space.name, "quant")), "kind": "quant",
                       "encoding_dim": int(predictor.encoding_dim)}


def _fp32_predictor(space, predictor_info: dict):
    """The fp32 predictor for the sequential baseline (``predictors/<space>/fp32.pt``), or None
    when there is none (e.g. only an imported APQ checkpoint): that baseline then scores its
    architecture stages with the quantization-aware predictor at W8A8. Notes which in ``predictor_info``."""
    from apq.predictor.load import load_fp32_predictor, predictor_path

    path = predictor_path(space.name, "fp32")
    if not path.exists():
        log.warning("no %s: the sequential baseline scores its architecture stages at W8A8", path)
        predictor_info["sequential_fp32_predictor"] = None
        return None
    predictor_info["sequential_fp32_predictor"] = str(path)
    return load_fp32_predictor(space, path)


def _print_summary(best: dict, run_dir) -> None:
    c = best["constraint"]
    limit = f"{c['metric']} <= {c['limit']:.4g}" + ("" if c["source"] == "user" else f" ({c['source']})")
    energy = "n/a" if best["energy_mj"] is None else f"{best['energy_mj']:.4g} mJ"
    print(f"best under {limit}: {best['predicted_acc']:.2f}% predicted, {best['latency_ms']:.4g} ms, {energy}, "
          f"{best['bitops']:.3g} BitOps  [{best['method']}]")
    print(f"  {best['arch']}")
    for name, entry in best.get("baselines", {}).items():
        acc = "no feasible candidate" if entry["predicted_acc"] is None else f"{entry['predicted_acc']:.2f}% predicted"
        print(f"  baseline {name}: {acc}")
    print(run_dir)
