"""Quantization-choice benchmark: the measured comparisons behind the quantization defaults.

    .venv/bin/python bench/quant.py [--space fmnist] [--preset default] [--subnets 8] [--ranked 10]
                                    [--lengths 0,10,20,40] [--reference 120] [--range-lrs 0.01,0.1]
                                    [--long 120] [--jobs 2] [--data-dir D]

Needs ``data/<space>/supernet.pt`` (``make supernet``). Writes ``results/bench/quant.json``:

- ``w4a4``: ``--subnets`` random sub-nets (those of quantized samples 0..n-1) with every searchable
  layer at 4-bit weights and activations, evaluated on the preset's validation subset under each
  of per-channel / per-tensor weights x learned (LSQ) / fixed calibrated activation steps, after
  the preset's fine-tune and with none. Per variant: mean accuracy, and the paired difference to
  the default (per-channel, learned) with its std and how many sub-nets the default won. After
  the preset's fine-tune also the learned steps at each relative step rate of ``--range-lrs``,
  and after ``--long`` steps (the length of a longer fine-tune) learned against fixed steps.
- ``finetune_length``: ``--ranked`` random sub-nets with their sampled (mixed) bit policies,
  fine-tuned for each of ``--lengths`` steps and for ``--reference`` steps; Kendall tau and
  pairwise accuracy of each length's accuracy ranking against the reference's, the mean paired
  accuracy difference to the reference (with its std), and the CPU seconds per sample. A length ranks well when its tau is close to the best tau of any length.
"""
from __future__ import annotations

import dataclasses
import time
from typing import ClassVar

import numpy as np
import torch
from joblib import Parallel, delayed

from apq.io import write_json
from apq.predictor.metrics import kendall_tau, pairwise_accuracy
from apq.quant.pipeline import evaluate_quantized
from apq.samples import evaluate as worker
from apq.supernet.checkpoint import supernet_path
from samples import bench_parser, bench_settings, task_genome  # bench/samples.py, beside this file

#: Quantizer variants as overrides of the preset's QuantConfig; the first is the default the
#: others are compared with.
VARIANTS = {"per_channel_learned": {}, "per_channel_fixed": {"learn_ranges": False},
            "per_tensor_learned": {"per_channel": False},
            "per_tensor_fixed": {"per_channel": False, "learn_ranges": False}}
DEFAULT_VARIANT = next(iter(VARIANTS))


def range_lr_variants(range_lrs: str) -> dict[str, dict]:
    """The default variant with activation steps learned at each relative rate of "0.01,0.1"."""
    return {f"per_channel_learned_range_lr_{float(r):g}": {"range_lr": float(r)} for r in range_lrs.split(",")}


@dataclasses.dataclass(frozen=True)
class Task:
    """Quantized sample ``index``'s sub-net (all bits at ``bits`` unless None), with ``variant``'s
    quantizer settings and ``steps`` fine-tune steps."""

    index: int
    variant: str
    steps: int
    bits: int | None = None
    #: QuantConfig overrides that make ``variant``, as (field, value) pairs.
    overrides: tuple = ()
    kind: ClassVar[str] = "quant"  # what samples.task_genome reads: quantized sample ``index``'s genome


def run_task(job: worker.SampleJob, task: Task) -> dict:
    """Evaluate one task on one thread; accuracy in percent, CPU seconds of this process."""
    torch.set_num_threads(1)
    ctx = worker.context(job)
    config = job.quant.override(**dict(task.overrides))
    started = time.process_time()
    res = evaluate_quantized(ctx.supernet, task_genome(ctx.space, task), ctx.data, config, steps=task.steps,
                             seed=worker.sample_seed(0, "quant", task.index))
    return {**dataclasses.asdict(task), "accuracy": res.accuracy, "loss": res.loss,
            "cpu_seconds": time.process_time() - started}


def run_all(job: worker.SampleJob, tasks: list[Task], jobs: int) -> list[dict]:
    return Parallel(n_jobs=jobs, batch_size=1)(delayed(run_task)(job, task) for task in tasks)


def compare_variants(rows: list[dict], steps: int) -> dict:
    """Per variant at ``steps``: mean accuracy and the paired difference to the default variant."""
    names = dict.fromkeys(r["variant"] for r in rows if r["steps"] == steps)
    acc = {name: np.array([r["accuracy"] for r in sorted(rows, key=lambda r: r["index"])
                           if r["variant"] == name and r["steps"] == steps]) for name in names}
    default = acc[DEFAULT_VARIANT]
    out = {}
    for name, values in acc.items():
        diff = values - default
        out[name] = {"mean_acc": round(float(values.mean()), 3), "minus_default_mean": round(float(diff.mean()), 3),
                     "minus_default_std": round(float(diff.std(ddof=1)), 3),
                     "default_wins": int((default > values).sum()), "subnets": len(values)}
    return out


def rank_agreement(rows: list[dict], lengths: list[int], reference: int) -> dict:
    """Kendall tau and pairwise accuracy of each length's ranking against the reference length's."""
    def by_steps(steps):
        chosen = sorted((r for r in rows if r["steps"] == steps), key=lambda r: r["index"])
        return np.array([r["accuracy"] for r in chosen]), np.array([r["cpu_seconds"] for r in chosen])

    ref, _ = by_steps(reference)
    out = {}
    for steps in lengths:
        acc, cpu = by_steps(steps)
        out[str(steps)] = {"kendall_tau": round(kendall_tau(ref, acc), 3),
                           "pairwise_acc": round(pairwise_accuracy(ref, acc), 3),
                           "mean_acc": round(float(acc.mean()), 3),
                           "minus_reference_mean": round(float((acc - ref).mean()), 3),
                           "minus_reference_std": round(float((acc - ref).std(ddof=1)), 3),
                           "cpu_seconds_per_sample": round(float(cpu.mean()), 2)}
    out["reference"] = {"steps": reference, "mean_acc": round(float(ref.mean()), 3)}
    return out


def main() -> None:
    parser = bench_parser(__doc__, "quant.json")
    parser.add_argument("--subnets", type=int, default=8, help="sub-nets of the W4A4 quantizer comparison (0: skip it)")
    parser.add_argument("--ranked", type=int, default=10, help="sub-nets of the fine-tune length study")
    parser.add_argument("--lengths", default="0,10,20,40")
    parser.add_argument("--reference", type=int, default=120, help="fine-tune steps of the reference ranking")
    parser.add_argument("--range-lrs", default="0.01,0.1", help="relative step rates compared with the preset's")
    parser.add_argument("--long", type=int, default=120, help="fine-tune steps of the long learned-vs-fixed check")
    args = parser.parse_args()
    space, preset, samples, quant = bench_settings(args)
    job = worker.SampleJob(args.space, "quant", preset, samples, quant, str(supernet_path(space.name)), args.data_dir)
    lengths = [int(x) for x in args.lengths.split(",")]
    started = time.perf_counter()
    variants = {**VARIANTS, **range_lr_variants(args.range_lrs)}
    plan = {0: [DEFAULT_VARIANT, "per_tensor_learned"],  # without a fine-tune learned = fixed
            quant.qat_steps: list(variants), args.long: [DEFAULT_VARIANT, "per_channel_fixed"]}
    w4 = run_all(job, [Task(i, name, steps, bits=4, overrides=tuple(variants[name].items()))
                       for steps, chosen in plan.items() for name in chosen for i in range(args.subnets)], args.jobs)
    report = {"space": space.name, "preset": preset.name, "quant_config": quant.to_dict()}
    if w4:
        report["w4a4"] = {f"after_{steps}_steps": compare_variants(w4, steps) for steps in plan}
        print("w4a4", report["w4a4"], flush=True)
    ranked = run_all(job, [Task(i, DEFAULT_VARIANT, steps) for i in range(args.ranked)
                           for steps in (*lengths, args.reference)], args.jobs)
    report["finetune_length"] = rank_agreement(ranked, lengths, args.reference)
    print("fine-tune length", report["finetune_length"], flush=True)
    report.update(rows={"w4a4": w4, "finetune_length": ranked}, jobs=args.jobs,
                  wall_seconds=round(time.perf_counter() - started, 1), created=time.strftime("%Y-%m-%d %H:%M:%S"))
    write_json(args.out, report)
    print(args.out)


if __name__ == "__main__":
    main()
