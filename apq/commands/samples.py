"""``apq samples``: fp32 or quantized accuracy samples of random sub-nets (parallel, resumable)."""
from __future__ import annotations

import logging

from apq.commands.common import add_common, non_negative_int, resolve_config_args

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    from apq.samples.parallel import BACKENDS

    p = sub.add_parser("samples", help="evaluate random sub-nets (fp32, or quantized with --quant) into "
                                       "data/<space>/samples_{fp32,quant}.h5 (resumes if interrupted)")
    add_common(p)
    p.add_argument("--quant", action="store_true", help="quantized samples (bit policy, calibration, short QAT)")
    p.add_argument("--n", type=non_negative_int, help="number of samples (default: the preset's)")
    p.add_argument("--retest", type=non_negative_int, default=None,
                   help="measure the first K samples again with other random draws, for the labels' noise "
                        "(default: the preset's samples.n_retest; 0: none)")
    p.add_argument("--jobs", type=non_negative_int, default=None, help="parallel workers (default: one per CPU core)")
    p.add_argument("--backend", default="loky", choices=BACKENDS,
                   help="loky: processes here; dask / ray: a cluster at --address (default loky)")
    p.add_argument("--address", help="dask scheduler (tcp://host:8786) or ray address; none: a local cluster")
    p.add_argument("--data-dir", help="folder holding the dataset files (default: the usual locations)")
    p.add_argument("--force", action="store_true", help="start the sample file again, even one made with other settings")
    p.set_defaults(run=run)


def run(args) -> int:
    from apq import api

    print(api.samples(args.space, quant=args.quant, n=args.n, jobs=args.jobs, backend=args.backend,
                      address=args.address, data_dir=args.data_dir, force=args.force, retest=args.retest,
                      preset=resolve_config_args(args)))
    return 0
