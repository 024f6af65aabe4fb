"""``cpu`` target: conv latency measured with PyTorch on this host, cached per host.

Each distinct layer shape is timed once (fp32, batch 1, median of repeats after warm-up) and
kept in ``data/cache/cpu-<host>.json``; later runs only time shapes they have not seen. Bit
widths do not change fp32 CPU latency, and energy cannot be measured here: it is NaN, and asking
to constrain it is refused by the CLI.
"""
from __future__ import annotations

import json
import logging
import math
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from apq.hardware.target import HardwareTarget, register_target
from apq.io import project_root, write_json
from apq.space.layers import ConvLayers

log = logging.getLogger(__name__)


def _shape_key(cin, cout, size, kernel, stride, groups) -> str:
    return f"{cin},{cout},{size},{kernel},{stride},{groups}"


def time_conv(cin: int, cout: int, size: int, kernel: int, stride: int, groups: int,
              repeats: int, warmup: int = 2) -> float:
    """Median wall time in ms of one fp32 conv forward at batch 1 on the CPU."""
    import torch  # only when measuring: every other target, and so create_target, stays torch-free

    conv = torch.nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False).eval()
    x = torch.randn(1, cin, size, size)
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            conv(x)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


@register_target("cpu")
class CpuTarget(HardwareTarget):
    """Measured PyTorch fp32 latency of this host; energy is not measurable (NaN)."""

    name = "cpu"
    has_energy = False

    def __init__(self, repeats: int = 7, cache_path=None):
        import torch  # see time_conv

        self.repeats = repeats
        self.threads = torch.get_num_threads()
        host = platform.node() or "host"
        default = project_root() / "data" / "cache" / f"cpu-{host}-t{self.threads}.json"
        self.cache_path = Path(cache_path) if cache_path else default
        self._cache = self._read_cache()

    @classmethod
    def from_preset(cls, preset) -> "CpuTarget":
        return cls(repeats=preset.cpu_latency_repeats)

    def _read_cache(self) -> dict[str, float]:
        try:
            data = json.loads(self.cache_path.read_text())
            return {k: float(v) for k, v in data.get("latency_ms", {}).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def layer_cost(self, layers: ConvLayers) -> tuple[np.ndarray, np.ndarray]:
        keys = [_shape_key(*row) for row in zip(*(c.tolist() for c in (
            layers.cin, layers.cout, layers.in_size, layers.kernel, layers.stride, layers.groups)))]
        missing = sorted({k for k in keys if k not in self._cache})
        if missing:
            self._measure(missing)
        if layers.batch != 1:
            raise ValueError("the cpu target measures batch 1 only")
        latency = np.asarray([self._cache[k] for k in keys], dtype=float)
        return latency, np.full(len(keys), math.nan)

    def _measure(self, keys: list[str]) -> None:
        log.info("timing %d conv shapes on this CPU (cached in %s)", len(keys), self.cache_path)
        for key in tqdm(keys, desc="cpu latency", unit="shape", disable=None):
            self._cache[key] = time_conv(*(int(v) for v in key.split(",")), repeats=self.repeats)
        write_json(self.cache_path, {"host": platform.node(), "torch_threads": self.threads,
                                     "repeats": self.repeats, "latency_ms": self._cache})

    def describe(self) -> dict:
        return {"name": self.name, "class": "CpuTarget", "host": platform.node(),
                "torch_threads": self.threads, "repeats": self.repeats, "cache": str(self.cache_path)}
