"""Fake-quantization kernel benchmark: forward + backward time of the activation quantizer.

    .venv/bin/python bench/fake_quant.py [--repeats 9] [--threads 0] [--run RUN_DIR]

Writes ``results/bench/fake_quant.json``. For activation shapes of the default fmnist sub-nets
(batch 64, channels-last), side by side in one run, the median milliseconds of one forward +
backward of:

- ``lsq``: :class:`apq.quant.fake_quant.LsqQuantize`, the engine's kernel;
- ``composed``: the same function written as autograd ops (clamp, round with a straight-through
  estimator, LSQ's gradient scaling), which is how LSQ is commonly written;
- ``torch_fused``: torch's ``_fake_quantize_learnable_per_tensor_affine``.

With ``--run`` (a search run folder, e.g. ``results/fmnist/bitfusion/latest``) it also times the
quantization-aware fine-tune of that run's winner as ``apq verify`` runs it (fp32 teacher included,
the run's preset): the median milliseconds per step over 3 repeats of 20 steps, after 5 warm-up steps.

All three kernels compute the same function; the largest difference between the input gradients of ``lsq``
and ``composed`` (float rounding) and the relative difference of their step gradients are reported.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from apq.io import write_json
from apq.quant.fake_quant import LsqQuantize, lsq_grad_factor
from apq.report import bench_arguments

#: (shape, q_min, q_max): the largest activations of a default sub-net, 6-bit unsigned / 8-bit signed.
CASES = (((64, 48, 28, 28), 0, 63), ((64, 88, 14, 14), 0, 63), ((64, 176, 7, 7), -128, 127))


def lsq(x, step, q_min, q_max):
    return LsqQuantize.apply(x, step, q_min, q_max, lsq_grad_factor(x, q_max))


def composed(x, step, q_min, q_max):
    factor = lsq_grad_factor(x, q_max)
    step = step * factor + (step - step * factor).detach()
    clipped = (x / step).clamp(q_min, q_max)
    return (clipped + (torch.round(clipped) - clipped).detach()) * step


def torch_fused(x, step, q_min, q_max):
    zero = torch.zeros(1)
    return torch._fake_quantize_learnable_per_tensor_affine(x, step.reshape(1), zero, q_min, q_max,
                                                            lsq_grad_factor(x, q_max))


KERNELS = {"lsq": lsq, "composed": composed, "torch_fused": torch_fused}


def forward_backward(kernel, x, upstream, step_value: float, q_min: int, q_max: int):
    """One forward + backward; returns (input gradient, step gradient)."""
    x = x.detach().requires_grad_()
    step = torch.tensor(step_value, requires_grad=True)
    kernel(x, step, q_min, q_max).backward(upstream)
    return x.grad, step.grad


def time_case(shape, q_min: int, q_max: int, repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=gen) * 2).contiguous(memory_format=torch.channels_last)
    upstream = torch.randn(shape, generator=gen).contiguous(memory_format=torch.channels_last)
    step = 4.0 / q_max
    grads = {name: forward_backward(k, x, upstream, step, q_min, q_max) for name, k in KERNELS.items()}  # warm-up
    ms = {name: [] for name in KERNELS}
    for _ in range(repeats):
        for name, kernel in KERNELS.items():  # interleaved, so drift hits every kernel alike
            start = time.perf_counter()
            forward_backward(kernel, x, upstream, step, q_min, q_max)
            ms[name].append((time.perf_counter() - start) * 1e3)
    row = {"shape": list(shape), "q_range": [q_min, q_max], "repeats": repeats,
           "input_grad_max_abs_diff": float((grads["lsq"][0] - grads["composed"][0]).abs().max()),
           "step_grad_rel_diff": float(abs(grads["lsq"][1] - grads["composed"][1]) / abs(grads["composed"][1]))}
    for name, values in ms.items():
        row[f"{name}_ms_median"] = statistics.median(values)
        row[f"{name}_ms_min"] = min(values)
    row["speedup_vs_composed"] = row["composed_ms_median"] / row["lsq_ms_median"]
    return row


def time_finetune(run_dir: Path, repeats: int = 3, steps: int = 20) -> dict:
    """Median ms per quantization-aware fine-tune step of ``run_dir``'s winner (see the module docstring)."""
    import json

    from apq.presets import get_preset
    from apq.quant.config import get_quant_config
    from apq.quant.pipeline import quantize_model, teacher_subnet
    from apq.quant.policy import bit_policy
    from apq.quant.qat import qat_finetune
    from apq.samples.data import load_sample_data
    from apq.space.registry import create_space
    from apq.supernet.checkpoint import load_supernet

    config, best = (json.loads((run_dir / name).read_text()) for name in ("config.json", "best.json"))
    space, preset = create_space(config["space"]), get_preset(config["preset"]["name"])
    qconfig = get_quant_config(preset.name)
    supernet, _ = load_supernet(space, None, "cpu")
    data = load_sample_data(space, preset)
    genome = np.asarray(best["genome"], dtype=np.int64)
    torch.manual_seed(0)
    teacher = teacher_subnet(supernet, genome, data.calib, qconfig)
    model = quantize_model(teacher, bit_policy(space, genome), data.calib, qconfig)
    qat_finetune(model, teacher, data.train_x, data.train_y, 5, qconfig, 0)
    per_step = []
    for _ in range(repeats):
        start = time.perf_counter()
        qat_finetune(model, teacher, data.train_x, data.train_y, steps, qconfig, 0)
        per_step.append((time.perf_counter() - start) / steps * 1e3)
    return {"run": str(run_dir.resolve()), "genome": best["genome"], "batch": qconfig.qat_batch, "steps": steps,
            "repeats": repeats, "ms_per_step_median": statistics.median(per_step), "ms_per_step_all": per_step}


def main() -> None:
    parser = bench_arguments(__doc__, "fake_quant", repeats=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = one per core)")
    parser.add_argument("--run", help="also time the fine-tune of this search run's winner (a run folder)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [time_case(shape, q_min, q_max, args.repeats) for shape, q_min, q_max in CASES]
    report = {"threads": torch.get_num_threads(), "cases": rows}
    if args.run:
        report["finetune"] = time_finetune(Path(args.run))
    write_json(args.out, report)
    for r in rows:
        print(f"{str(tuple(r['shape'])):>20}  lsq {r['lsq_ms_median']:6.2f} ms  composed {r['composed_ms_median']:6.2f} ms  "
              f"torch fused {r['torch_fused_ms_median']:6.2f} ms  (x{r['speedup_vs_composed']:.1f}, "
              f"input grads differ by <= {r['input_grad_max_abs_diff']:.1e})")
    if args.run:
        print(f"fine-tune of the winner of {args.run}: {report['finetune']['ms_per_step_median']:.1f} ms per step")
    print(args.out)


if __name__ == "__main__":
    main()
