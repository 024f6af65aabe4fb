"""Supernet benchmark: weight-shared accuracy of three sub-nets vs the same nets trained alone.

    .venv/bin/python bench/supernet.py [--space fmnist] [--preset default] [--epochs E] [--data-dir D]

Needs ``data/<space>/supernet.pt`` (``make supernet``). For the smallest, a middle (middle choice
of every gene) and the largest sub-net it reports the test accuracy inside the supernet (after
BN re-calibration) and after training the same architecture from scratch, randomly initialised,
with the supernet's ``full``-phase recipe for ``--epochs`` (default: the supernet's total epochs
over all phases). Writes ``results/bench/supernet.json``.
"""
from __future__ import annotations

import logging
import time

import numpy as np
import torch

from apq.io import write_json
from apq.nn.runtime import pick_device
from apq.presets import get_preset
from apq.report import bench_arguments
from apq.space.registry import create_space
from apq.space.spec import genome_string
from apq.supernet.bn_calibration import calibrate_bn
from apq.supernet.build import load_training_data
from apq.supernet.checkpoint import load_supernet, supernet_path
from apq.supernet.config import get_supernet_config
from apq.supernet.evaluate import evaluate, evaluate_subnet, prepare
from apq.supernet.network import Supernet
from apq.supernet.train import train_standalone, training_threads


def middle_genome(net: Supernet) -> np.ndarray:
    """The middle choice index of every depth, kernel and channel gene."""
    genome = net.largest_genome()
    for gene in ("depth", "kernel", "mid"):
        cols = net.space.slices[gene]
        genome[cols] = net.space.cardinality[cols] // 2
    return genome


def main() -> None:
    parser = bench_arguments(__doc__, "supernet")
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--epochs", type=float, help="scratch epochs (default: the supernet's total)")
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    space, preset = create_space(args.space), get_preset(args.preset)
    config = get_supernet_config(preset.name)
    threads, device = training_threads(config), pick_device()
    torch.set_num_threads(threads)
    supernet, meta = load_supernet(space, supernet_path(space.name), device)
    if config.channels_last:
        supernet = supernet.to(memory_format=torch.channels_last)
    data, test, calib = load_training_data(space, preset, config, args.data_dir)
    epochs = args.epochs if args.epochs is not None else sum(config.phase_epochs)
    rows = []
    for name, genome in (("smallest", supernet.smallest_genome()), ("middle", middle_genome(supernet)),
                         ("largest", supernet.largest_genome())):
        shared = evaluate_subnet(supernet, genome, calib, *test, config.bn_calib_batch, config.eval_batch,
                                 config.channels_last)
        torch.manual_seed(preset.seed)
        scratch = Supernet(space).extract(genome).to(device)  # same architecture, fresh random weights
        if config.channels_last:
            scratch = scratch.to(memory_format=torch.channels_last)
        seconds = train_standalone(scratch, data, config, epochs, preset.seed, device, desc=f"scratch {name}")
        calibrate_bn(scratch, prepare(calib, device, config.channels_last), config.bn_calib_batch)
        alone = evaluate(scratch, *test, config.eval_batch, config.channels_last)
        rows.append({"subnet": name, "genome": genome.tolist(), "arch": genome_string(space, genome),
                     "params": sum(p.numel() for p in scratch.parameters()),
                     "supernet_test_acc": round(shared.accuracy, 3), "scratch_test_acc": round(alone.accuracy, 3),
                     "scratch_epochs": epochs, "scratch_train_seconds": round(seconds, 1)})
        print(f"{name:>8}: supernet {shared.accuracy:6.2f}%  scratch ({epochs:g} epochs, {seconds:.0f} s) "
              f"{alone.accuracy:6.2f}%  {rows[-1]['params']:,} params", flush=True)
    write_json(args.out, {"space": space.name, "preset": preset.to_dict(), "supernet_meta": meta,
                          "supernet_json": _supernet_report(space.name), "threads": threads, "device": str(device),
                          "test_images": len(test[0]), "subnets": rows, "created": time.strftime("%Y-%m-%d %H:%M:%S")})
    print(args.out)


def _supernet_report(space_name: str) -> dict | None:
    import json

    path = supernet_path(space_name).with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else None


if __name__ == "__main__":
    main()
