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
    p.add_argument("--data-dir", help="folder holding the dataset files, for the supernet's sensitivity scan "
                                      "(default: the usual locations)")
    p.add_argument("--import-apq", metavar="PATH",
                   help="instead of training, import APQ's released quantization-aware predictor "
                        "(acc_quant.pt, for --space imagenet-apq) as predictors/<space>/quant.pt")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api
    from apq.predictor.load import predictor_dir
    from apq.space.registry import create_space

    result = api.predictor(args.space, preset=resolve_config_args(args), force=args.force, import_apq=args.import_apq,
                           data_dir=args.data_dir)
    print(result["path"] if args.import_apq else predictor_dir(create_space(args.space).name) / "metrics.json")
    return 0
