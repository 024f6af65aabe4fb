"""``apq verify``: quantization-aware fine-tune and test-split accuracy of a search run's winners."""
from __future__ import annotations

import logging

from apq.commands.common import add_run_args, non_negative_int, space_and_run
from apq.presets import PRESETS

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="fine-tune and test a search run's winner and baseline winners (resumable)")
    add_run_args(p)
    p.add_argument("--preset", choices=sorted(PRESETS), help="settings preset (default: the run's)")
    p.add_argument("--steps", type=non_negative_int, help="fine-tune steps per model (default: the preset's)")
    p.add_argument("--threads", type=non_negative_int, help="torch threads (default: one per core)")
    p.add_argument("--supernet", help="supernet file (default data/<space>/supernet.pt)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.presets import get_preset

    space, run_dir, config = space_and_run(args, "verify")
    preset = get_preset(args.preset or config["preset"]["name"])
    report = _verify(run_dir, space, preset, config["seed"], args)
    _print(report, run_dir)
    return 0


def _verify(run_dir, space, preset, seed: int, args) -> dict:
    from apq.nn.runtime import pick_device
    from apq.quant.config import get_quant_config
    from apq.samples.data import load_sample_data
    from apq.supernet.checkpoint import load_supernet
    from apq.verify.config import get_verify_config
    from apq.verify.run import verify_run

    vconfig = get_verify_config(preset.name)
    if args.steps is not None:
        vconfig = vconfig.override(qat_steps=args.steps)
    if args.threads is not None:
        vconfig = vconfig.override(num_threads=args.threads)
    supernet, meta = load_supernet(space, args.supernet, pick_device())
    data = load_sample_data(space, preset, args.data_dir)
    return verify_run(run_dir, supernet, data, get_quant_config(preset.name), vconfig, seed, meta)


def _print(report: dict, run_dir) -> None:
    rows = [("joint", report)] + list(report.get("baselines", {}).items())
    for name, r in rows:
        print(f"{name:>14}: predicted {r['predicted_acc']:6.2f}%  measured {r['measured_acc']:6.2f}%  "
              f"{r['latency_ms']:.4g} ms")
    print(run_dir / "verify.json")
