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
    add_rerank_args(p)
    p.epilog = ("Without --latency/--energy the winner is picked under the median latency of random valid "
                "genomes and the Pareto front spans the whole space.")
    p.set_defaults(run=run)


def add_rerank_args(p) -> None:
    """Where the re-ranking's validation measurements run (search.rerank_k > 1), and the dataset folder."""
    from apq.samples.parallel import BACKENDS

    p.add_argument("--jobs", type=non_negative_int, default=None,
                   help="re-ranking workers (default: one per CPU core)")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="re-ranking on loky (processes here) or a dask / ray cluster at --address (default loky)")
    p.add_argument("--address", help="dask scheduler (tcp://host:8786) or ray address; none: a local cluster")
    p.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")


def _number(text: str) -> float:
    """argparse type: any float, NaN and negatives included (checked against the space later)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def run(args) -> int:
    from apq import api

    run = api.search(args.space, args.target, latency=args.latency, energy=args.energy, baselines=args.baselines,
                     seed=args.seed, run_name=args.run_name, predictor_path=args.predictor,
                     preset=resolve_config_args(args, generations="search.generations"), upstream=False, verify=False,
                     data_dir=args.data_dir, jobs=args.jobs, backend=args.backend, address=args.address)
    _print_summary(run.best, run.path)
    return 0


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
