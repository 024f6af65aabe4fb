"""``apq verify``: quantization-aware fine-tune and test-split accuracy of a search run's winners."""
from __future__ import annotations

import logging

from apq.commands.common import add_config_args, add_run_args, non_negative_int, resolve_config_args, space_and_run
from apq.presets import PRESETS

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="fine-tune and test a search run's winner and baseline winners (resumable)")
    add_run_args(p)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="settings preset (default: the run's, with its seed and splits)")
    add_config_args(p)
    p.add_argument("--steps", type=non_negative_int, help="fine-tune steps per model (default: the preset's)")
    p.add_argument("--threads", type=non_negative_int, help="torch threads (default: one per core)")
    p.add_argument("--supernet", help="supernet file (default data/<space>/supernet.pt)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api

    _, run_dir, _ = space_and_run(args, "verify")
    config = resolve_config_args(args, _run_base(args, run_dir), steps="verify.qat_steps",
                                 threads="verify.num_threads")
    report = api.verify(run_dir, space=args.space, preset=config, data_dir=args.data_dir, supernet_path=args.supernet)
    _print(report, run_dir)
    return 0


def _run_base(args, run_dir):
    """Without --preset: the run's preset, its ``preset`` section (seed, splits) as the run stored it."""
    from apq.api import run_base_config

    return None if args.preset is not None else run_base_config(run_dir)


def _print(report: dict, run_dir) -> None:
    rows = [("joint", report)] + list(report.get("baselines", {}).items())
    for name, r in rows:
        print(f"{name:>14}: predicted {r['predicted_acc']:6.2f}%  measured {r['measured_acc']:6.2f}%  "
              f"{r['latency_ms']:.4g} ms")
        if "paired" in r:
            d = r["paired"]
            print(f"{'':>14}  joint minus {name}: {d['diff']:+.2f} points, 95% CI [{d['ci95'][0]:+.2f}, "
                  f"{d['ci95'][1]:+.2f}], McNemar p = {d['p_mcnemar']:.3g} ({d['discordant'][0]} vs "
                  f"{d['discordant'][1]} discordant images)")
    print(run_dir / "verify.json")
