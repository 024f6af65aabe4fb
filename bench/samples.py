"""Sample-quality and speed benchmark: evaluation noise, accuracy spread, throughput, quantization drop.

    .venv/bin/python bench/samples.py [--space fmnist] [--preset default] [--subnets 20] [--uniform 6]
                                      [--jobs 2] [--data-dir D]

Needs ``data/<space>/supernet.pt`` (``make supernet``). Uses the preset's sample settings
(validation subset, BN-calibration images, fine-tune length) and writes
``results/bench/samples.json``:

- ``eval_noise_std``: the same ``--subnets`` fp32 sub-nets (those of samples 0..n-1) evaluated twice
  with BN-calibration images drawn with different seeds; std of one evaluation, i.e. std of the
  difference / sqrt(2), in accuracy points (target <= 0.3). ``quant.eval_noise_std`` is the same
  for quantized samples, where the calibration images and the fine-tune's batch order both change.
- ``accuracy_spread_std``: std of accuracy across those random sub-nets (target >= 5x the noise),
  ``{"fp32": ..., "quant": ...}`` (and in each kind's section with its ``spread_over_noise``).
- ``samples_per_minute``: evaluations per wall minute with ``--jobs`` single-threaded workers,
  and the default sample stage's estimated wall time from them.
- ``drop_by_bits``: fp32 minus quantized accuracy (validation split, points) of ``--uniform`` sub-nets
  quantized uniformly at each bit width of the space (every searchable layer's four bit genes equal:
  W2A2, W4A4, W6A6, W8A8 on fmnist), after the samples' fine-tune (``quant.qat_steps``): mean, std,
  min, max over the sub-nets. ``drop_by_bits_verify``: the same sub-nets and levels after the
  verification fine-tune (``verify.qat_steps``; still on the validation split: the test split is
  only for verifying winners). ``drop_finetune_steps`` names both step counts.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import time

import numpy as np
import torch
from joblib import Parallel, delayed

from apq.io import write_json
from apq.presets import get_preset
from apq.quant.config import get_quant_config
from apq.quant.pipeline import evaluate_quantized
from apq.report import bench_arguments
from apq.samples import evaluate as worker
from apq.samples.config import get_sample_config
from apq.space.registry import create_space
from apq.space.space import BIT_GENES
from apq.supernet.checkpoint import supernet_path
from apq.supernet.evaluate import evaluate
from apq.verify.config import get_verify_config


@dataclasses.dataclass(frozen=True)
class Task:
    """One evaluation: sample ``index`` of ``kind`` (or its genome with uniform ``bits``), calibration
    images drawn with ``calib_seed``, fine-tune batch order from ``qat_seed``, ``steps`` fine-tune
    steps of a quantized one (None: the quantization settings' ``qat_steps``)."""

    kind: str
    index: int
    calib_seed: int
    qat_seed: int
    bits: int | None = None
    steps: int | None = None


def task_genome(space, task: Task) -> np.ndarray:
    genome = worker.draw_genome(space, worker.sample_seed(0, task.kind, task.index))
    if task.bits is not None:
        index = int(np.flatnonzero(space.bit_choices == task.bits)[0])
        for gene in BIT_GENES:
            genome[space.slices[gene]] = index
    return genome


def run_task(job: worker.SampleJob, task: Task) -> dict:
    """Evaluate one task in a worker; accuracy in percent, CPU seconds of this process."""
    torch.set_num_threads(1)
    ctx = worker.context(job)
    ctx = dataclasses.replace(ctx, data=ctx.data.with_calib_seed(task.calib_seed))
    genome, started = task_genome(ctx.space, task), time.process_time()
    row = {**dataclasses.asdict(task)}
    if task.kind == "fp32":
        res = worker.evaluate_fp32(ctx, genome, job.samples)
    else:
        res = evaluate_quantized(ctx.supernet, genome, ctx.data, job.quant, steps=task.steps, seed=task.qat_seed)
        row["fp32_accuracy"] = evaluate(res.teacher, ctx.data.val_x, ctx.data.val_y, job.quant.eval_batch,
                                        job.quant.channels_last).accuracy
    return {**row, "accuracy": res.accuracy, "loss": res.loss, "cpu_seconds": time.process_time() - started}


def run_all(job: worker.SampleJob, tasks: list[Task], jobs: int) -> tuple[list[dict], float]:
    """Rows of all tasks (in task order) and the wall seconds they took on ``jobs`` workers."""
    started = time.perf_counter()
    rows = Parallel(n_jobs=jobs, batch_size=1)(delayed(run_task)(job, task) for task in tasks)
    return rows, time.perf_counter() - started


def noise_and_spread(rows: list[dict]) -> dict:
    """Noise (std of one evaluation) and spread (std across sub-nets) from paired evaluations."""
    by_index: dict[int, list[float]] = {}
    for row in rows:
        by_index.setdefault(row["index"], []).append(row["accuracy"])
    pairs = np.array([v for v in by_index.values() if len(v) == 2])
    noise = float(np.std(pairs[:, 0] - pairs[:, 1], ddof=1) / np.sqrt(2))
    spread = float(np.std(pairs.mean(axis=1), ddof=1))
    return {"eval_noise_std": round(noise, 4), "accuracy_spread_std": round(spread, 4),
            "spread_over_noise": round(spread / noise, 2) if noise > 0 else None,
            "mean_accuracy": round(float(pairs.mean()), 3), "subnets": len(pairs)}


def speed(rows: list[dict], wall: float, jobs: int) -> dict:
    cpu = np.array([row["cpu_seconds"] for row in rows])
    return {"samples_per_minute": round(60 * len(rows) / wall, 2), "cpu_seconds_per_sample": round(float(cpu.mean()), 3),
            "cpu_seconds_p90": round(float(np.percentile(cpu, 90)), 3), "workers": jobs}


def drop_by_bits(rows: list[dict]) -> dict:
    """Mean / std / min / max of fp32 minus quantized accuracy per uniform bit width, keyed ``w{b}a{b}``."""
    out = {}
    for bits in sorted({row["bits"] for row in rows}):
        drops = np.array([row["fp32_accuracy"] - row["accuracy"] for row in rows if row["bits"] == bits])
        out[f"w{bits}a{bits}"] = {"mean": round(float(drops.mean()), 3), "std": round(float(drops.std(ddof=1)), 3),
                                  "min": round(float(drops.min()), 3), "max": round(float(drops.max()), 3),
                                  "subnets": len(drops)}
    return out


def uniform_tasks(space, n: int, steps: int) -> list[Task]:
    """Samples 0..n-1 of the quant kind at every uniform bit width of ``space``, ``steps`` fine-tune steps."""
    return [Task("quant", i, 1000, worker.sample_seed(0, "quant", i), bits=b, steps=steps)
            for b in space.bit_choices.tolist() for i in range(n)]


def paired_tasks(kind: str, n: int) -> list[Task]:
    """Each of samples 0..n-1 twice, with other calibration images and fine-tune seed the second time."""
    return [Task(kind, i, calib_seed=1000 + rep, qat_seed=worker.sample_seed(rep, kind, i)) for i in range(n)
            for rep in (0, 1)]


def bench_parser(doc: str, out_name: str) -> argparse.ArgumentParser:
    """Flags every sample-evaluation bench takes: --space, --preset, --jobs, --data-dir, --out."""
    parser = bench_arguments(doc, out_name.removesuffix(".json"))
    parser.add_argument("--space", default="fmnist")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data-dir")
    return parser


def bench_settings(args: argparse.Namespace):
    """(space, preset, sample settings, quantization settings) of the parsed flags; logging on."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    preset = get_preset(args.preset)
    return create_space(args.space), preset, get_sample_config(preset.name), get_quant_config(preset.name)


def main() -> None:
    parser = bench_parser(__doc__, "samples.json")
    parser.add_argument("--subnets", type=int, default=20)
    parser.add_argument("--uniform", type=int, default=6, help="sub-nets per uniform bit width for the drop")
    args = parser.parse_args()
    space, preset, samples, quant = bench_settings(args)
    report = {"space": space.name, "preset": preset.to_dict(), "samples_config": samples.to_dict(),
              "quant_config": quant.to_dict(), "jobs": args.jobs, "targets": {"eval_noise_std_max": 0.3,
                                                                             "spread_over_noise_min": 5}}
    for kind in ("fp32", "quant"):
        job = worker.SampleJob(args.space, kind, preset, samples, quant, str(supernet_path(space.name)), args.data_dir)
        rows, wall = run_all(job, paired_tasks(kind, args.subnets), args.jobs)
        report[kind] = {**noise_and_spread(rows), **speed(rows, wall, args.jobs), "rows": rows}
        print(kind, {k: v for k, v in report[kind].items() if k != "rows"}, flush=True)
    steps = {"samples": quant.qat_steps, "verify": get_verify_config(preset.name).qat_steps}
    report["drop_finetune_steps"], report["uniform_rows"] = steps, []
    for after, key in (("samples", "drop_by_bits"), ("verify", "drop_by_bits_verify")):
        rows, _ = run_all(job, uniform_tasks(space, args.uniform, steps[after]), args.jobs)  # job: the quant one
        report[key] = drop_by_bits(rows)
        report["uniform_rows"] += rows
        print(f"drop by bits after the {after} fine-tune ({steps[after]} steps)", report[key], flush=True)
    report["eval_noise_std"] = report["fp32"]["eval_noise_std"]
    report["accuracy_spread_std"] = {kind: report[kind]["accuracy_spread_std"] for kind in ("fp32", "quant")}
    report["estimated_stage_minutes"] = round(samples.n_fp32 / report["fp32"]["samples_per_minute"]
                                              + samples.n_quant / report["quant"]["samples_per_minute"], 1)
    report["created"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_json(args.out, report)
    print(args.out)


if __name__ == "__main__":
    main()
