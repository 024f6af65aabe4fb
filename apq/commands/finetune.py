"""``apq finetune``: train a verified run's winner further with quantization in the loop (resumable)."""
from __future__ import annotations

import argparse
import logging

from apq.commands.common import add_config_args, add_run_args, non_negative_int, resolve_config_args, space_and_run
from apq.finetune.config import TEACHERS
from apq.presets import PRESETS

log = logging.getLogger(__name__)


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (a bad value becomes argparse's one-line error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be > 0")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("finetune", help="train a verified run's winner further, quantized, distilled from an fp32 "
                                        "teacher (resumable); apq export then exports it")
    add_run_args(p)
    p.add_argument("--preset", choices=sorted(PRESETS),
                   help="settings preset (default: the run's, with its seed and splits)")
    add_config_args(p)
    p.add_argument("--epochs", type=positive_float, help="passes over the training split (default: the preset's)")
    p.add_argument("--teacher", choices=TEACHERS,
                   help="fp32 teacher: the supernet's largest network or the winner's own fp32 sub-net")
    p.add_argument("--threads", type=non_negative_int, help="torch threads (default: one per core)")
    p.add_argument("--supernet", help="supernet file (default data/<space>/supernet.pt)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api

    _, run_dir, _ = space_and_run(args, "finetune")
    base = None if args.preset is not None else api.run_base_config(run_dir)
    config = resolve_config_args(args, base, epochs="finetune.epochs", teacher="finetune.teacher",
                                 threads="finetune.num_threads")
    report = api.finetune(run_dir, space=args.space, preset=config, data_dir=args.data_dir, supernet_path=args.supernet)
    print(f"winner {report['arch']}: {report['acc_before']:.2f}% -> {report['acc_after']:.2f}% on "
          f"{report['test_images']} test images after {report['epochs']:g} epochs ({report['train_seconds']:.0f} s, "
          f"teacher: {report['teacher']})")
    print(run_dir / report["model_file"])
    return 0
