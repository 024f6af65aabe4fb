"""``apq predictor``: fit and test the accuracy predictors, or import APQ's released one."""
from __future__ import annotations

import logging

from apq.commands.common import add_common, resolve_config_args

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("predictor", help="train the fp32 and quantization-aware accuracy predictors "
                       "(predictors/<space>/{fp32,quant}.pt, metrics.json)")
    add_common(p)
    p.add_argument("--force", action="store_true", help="rebuild even when the predictors are up to date")
    p.add_argument("--import-apq", metavar="PATH",
                   help="instead of training, import APQ's released quantization-aware predictor "
                        "(acc_quant.pt, for --space imagenet-apq) as predictors/<space>/quant.pt")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq.predictor.apq_import import import_apq_predictor
    from apq.predictor.build import build_predictors
    from apq.predictor.load import predictor_dir
    from apq.space.registry import create_space

    config = resolve_config_args(args)
    space = create_space(args.space)
    if args.import_apq:
        print(import_apq_predictor(args.import_apq, space))
        return 0
    metrics = build_predictors(space, config.preset, config.predictor, force=args.force)
    folder = predictor_dir(space.name)
    if metrics is None:
        log.info("%s is up to date (same sample files and settings); nothing to do (--force rebuilds)", folder)
    else:
        log.info("wrote %s in %.1f s", folder, metrics["seconds"])
    print(folder / "metrics.json")
    return 0
