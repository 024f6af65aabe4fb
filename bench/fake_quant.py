"""Fake-quantization kernel benchmark: forward + backward time of the activation quantizer.

    .venv/bin/python bench/fake_quant.py [--repeats 9] [--threads 0]

Writes ``results/bench/fake_quant.json``. For activation shapes of the default fmnist sub-nets
(batch 64, channels-last), side by side in one run, the median milliseconds of one forward +
backward of:

- ``lsq``: :class:`apq.quant.fake_quant.LsqQuantize`, the engine's kernel;
- ``composed``: the same function written as autograd ops (clamp, round with a straight-through
  estimator, LSQ's gradient scaling), which is how LSQ is commonly written;
- ``torch_fused``: torch's ``_fake_quantize_learnable_per_tensor_affine``.

All three compute the same function; the largest difference between the input gradients of ``lsq``
and ``composed`` (float rounding) and the relative difference of their step gradients are reported.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from apq.io import project_root, write_json
from apq.quant.fake_quant import LsqQuantize

#: (shape, q_min, q_max): the largest activations of a default sub-net, 6-bit unsigned / 8-bit signed.
CASES = (((64, 48, 28, 28), 0, 63), ((64, 88, 14, 14), 0, 63), ((64, 176, 7, 7), -128, 127))


def _grad_factor(shape, q_max: int) -> float:
    return 1.0 / (torch.Size(shape[1:]).numel() * q_max) ** 0.5


def lsq(x, step, q_min, q_max):
    return LsqQuantize.apply(x, step, q_min, q_max, _grad_factor(x.shape, q_max))


def composed(x, step, q_min, q_max):
    factor = _grad_factor(x.shape, q_max)
    step = step * factor + (step - step * factor).detach()
    clipped = (x / step).clamp(q_min, q_max)
    return (clipped + (torch.round(clipped) - clipped).detach()) * step


def torch_fused(x, step, q_min, q_max):
    zero = torch.zeros(1)
    return torch._fake_quantize_learnable_per_tensor_affine(x, step.reshape(1), zero, q_min, q_max,
                                                            _grad_factor(x.shape, q_max))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = one per core)")
    parser.add_argument("--out", default=str(project_root() / "results" / "bench" / "fake_quant.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [time_case(shape, q_min, q_max, args.repeats) for shape, q_min, q_max in CASES]
    write_json(args.out, {"threads": torch.get_num_threads(), "cases": rows})
    for r in rows:
        print(f"{str(tuple(r['shape'])):>20}  lsq {r['lsq_ms_median']:6.2f} ms  composed {r['composed_ms_median']:6.2f} ms  "
              f"torch fused {r['torch_fused_ms_median']:6.2f} ms  (x{r['speedup_vs_composed']:.1f}, "
              f"input grads differ by <= {r['input_grad_max_abs_diff']:.1e})")
    print(args.out)


if __name__ == "__main__":
    main()
