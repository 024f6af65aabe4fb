"""The measured cpu target on the tiny space: real timings, cached per host."""
import math

import numpy as np

from apq.hardware.cost import CostTable
from apq.hardware.cpu import CpuTarget
from apq.space.layers import ConvLayers
from tests.helpers.hardware import tiny_space


def test_measures_caches_and_refuses_energy(tmp_path):
    cache = tmp_path / "cpu.json"
    target = CpuTarget(repeats=2, cache_path=cache)
    layers = ConvLayers.from_rows([(8, 16, 8, 1, 1, 1, 8, 8), (8, 16, 8, 1, 1, 1, 4, 4), (8, 16, 8, 1, 1, 1, 2, 2)])
    lat, energy = target.layer_cost(layers)
    assert np.all(lat > 0) and lat[0] == lat[1] == lat[2]  # bits do not change fp32 CPU latency
    assert all(math.isnan(e) for e in energy) and not target.has_energy
    assert cache.exists()
    again = CpuTarget(repeats=2, cache_path=cache)  # a new instance reads the cache, times nothing
    again._measure = None
    assert again.layer_cost(layers)[0].tolist() == lat.tolist()


def test_cost_table_on_cpu(tmp_path):
    space = tiny_space()
    table = CostTable(space, CpuTarget(repeats=1, cache_path=tmp_path / "c.json"))
    assert np.isfinite(table.pointwise[..., 0]).all() and np.isnan(table.fixed[1])
