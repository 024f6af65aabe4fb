"""Where and how wide torch runs: the device, the intra-op thread count, the CPUs this process may use."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def usable_cpus() -> int:
    """CPUs this process may run on, portably.

    ``os.process_cpu_count`` (Python 3.13+) and ``os.sched_getaffinity`` (Linux) honour an
    affinity mask or a container's CPU set; macOS and Windows have neither before 3.13, so the
    machine's count is the fallback there.
    """
    if hasattr(os, "process_cpu_count"):
        count = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count()
    return max(1, count or 1)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` when given, else the (current) CUDA device when CUDA is present, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextmanager
def torch_threads(n: int) -> Iterator[int]:
    """Run the block with ``n`` torch intra-op threads (0: leave the count as it is); yields the
    count in effect, and restores the caller's count after."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
