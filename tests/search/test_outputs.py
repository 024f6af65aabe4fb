"""Run folders: written whole or not at all; targets without energy give null / blank energy."""
import csv
import json

import numpy as np
import pytest

from apq.hardware.cost import CostTable
from apq.hardware.fpga import FpgaTarget
from apq.presets import get_preset
from apq.search import outputs
from apq.search.constraint import Constraint
from apq.search.run import search_and_write
from apq.space.registry import create_space
from tests.helpers.search import LinearScore, small_config


class NoEnergyTarget(FpgaTarget):
    """The FPGA model's latency with energy unmeasurable, as on the ``cpu`` target."""

    name = "noenergy"
    has_energy = False

    def layer_cost(self, layers):
        latency, energy = super().layer_cost(layers)
        return latency, np.full_like(energy, np.nan)


def test_a_target_without_energy_writes_null_and_blank_energy(tmp_path):
    space = create_space("fmnist")
    table = CostTable(space, NoEnergyTarget())
    predictor = LinearScore(np.random.default_rng(0).normal(0, 0.3, 360))
    run_dir = outputs.new_run_dir(space.name, "noenergy", "r")
    best = search_and_write(run_dir, table, predictor, {"kind": "stand-in"}, Constraint("latency_ms", 3.0),
                            small_config(generations=2), get_preset("smoke"), 0, with_baselines=False)
    assert best["energy_mj"] is None
    assert json.loads((run_dir / "best.json").read_text())["energy_mj"] is None
    with open(run_dir / "pareto.csv") as handle:
        assert {row["energy_mj"] for row in csv.DictReader(handle)} == {""}
    assert list(json.loads((run_dir / "config.json").read_text())["feasible_range"]) == ["latency_ms"]


def test_a_failing_run_leaves_no_run_folder(tmp_path):
    final = outputs.new_run_dir("fmnist", "fpga", "broken")
    with pytest.raises(RuntimeError):
        with outputs.staged_run_dir(final) as staging:
            (staging / "best.json").write_text("{}")
            raise RuntimeError("killed half way")
    assert not final.exists() and list(final.parent.iterdir()) == []


def test_latest_points_at_the_newest_run(tmp_path):
    for name in ("a", "b"):
        with outputs.staged_run_dir(outputs.new_run_dir("fmnist", "fpga", name)) as staging:
            (staging / "best.json").write_text("{}")
    assert outputs.resolve_run_dir("fmnist", "fpga", None).name == "b"
    assert outputs.resolve_run_dir("fmnist", "fpga", "a").name == "a"
