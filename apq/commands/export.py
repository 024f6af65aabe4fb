"""``apq export``: the verified joint winner of a search run as PyTorch (state dict + JSON spec) and ONNX (QDQ)."""
from __future__ import annotations

import json
import logging

from apq.commands.common import add_run_args, non_negative_int

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export a verified run's winner as PyTorch state dict + spec and ONNX QDQ")
    add_run_args(p)
    p.add_argument("--format", dest="export_format", choices=("onnx", "torch", "all"), default="all",
                   help="what to write (default all: model.pt + model.json and model.onnx)")
    p.add_argument("-o", "--output", metavar="DIR", help="export folder (default <run>/export)")
    p.add_argument("--test-images", type=non_negative_int, default=0, metavar="N",
                   help="check on the first N images of the official test split (default 0 = all)")
    p.add_argument("--threads", type=non_negative_int, default=0, metavar="N", help="torch/onnxruntime threads (default: one per core)")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api
    from apq.export.run import REPORT

    folder = api.export(args.run_name, format=args.export_format, space=args.space, target=args.target,
                        output=args.output, test_images=args.test_images, threads=args.threads,
                        data_dir=args.data_dir)
    _print(json.loads((folder / REPORT).read_text()), folder)
    return 0


def _print(report: dict, folder) -> None:
    print(f"exported {report['model']['file']} ({report['model']['why']})")
    line = f"fake-quant {report['fake_quant_acc']:.2f}%"
    if "onnx" in report:
        onnx = report["onnx"]
        line += (f"  onnx {onnx['onnx_acc']:.2f}%  argmax agreement {100 * onnx['argmax_agreement']:.2f}%  "
                 f"max |logit diff| {onnx['max_abs_diff']:.3g}")
    print(f"{line}  on {report['test_images']} test images")
    print(folder)
