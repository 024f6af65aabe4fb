"""Run folders: written whole or not at all; targets without energy give null / blank energy."""
import csv
import json

import numpy as np
import pytest

from apq.hardware.cost import CostTable
from apq.hardware.fpga import FpgaTarget
from apq.presets import get_preset
from apq.search import outputs
from apq.search.candidates import CANDIDATES, read_candidates
from apq.search.constraint import Constraint
from apq.search.run import search_and_write
from apq.space.encoding import Encoder
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
    predictor = LinearScore(np.random.default_rng(0).normal(0, 0.3, 400))
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


@pytest.mark.parametrize("source", ["user", "default"])  # default: NSGA-II searches unconstrained
def test_candidates_file_holds_every_query_of_every_method(tmp_path, fpga_fmnist, fmnist_predictor, source):
    table, rules = fpga_fmnist
    constraint = Constraint("latency_ms", 3.0, source)
    run_dir = outputs.new_run_dir(table.space.name, "fpga", "all")
    config = small_config(generations=2)
    search_and_write(run_dir, table, fmnist_predictor, {"kind": "stand-in"}, constraint, config,
                     get_preset("smoke"), 0, with_baselines=True)
    columns, genomes = read_candidates(run_dir / CANDIDATES, table.space)
    best = json.loads((run_dir / "best.json").read_text())
    queries = {**best["queries"], **{name: b["queries"] for name, b in best["baselines"].items()}}
    methods, counts = np.unique(columns["method"], return_counts=True)
    assert dict(zip(methods.tolist(), counts.tolist())) == queries
    assert json.loads((run_dir / "config.json").read_text())["queries"] == len(genomes)
    assert rules.is_valid(genomes).all()
    costs = table.evaluate(genomes)
    np.testing.assert_allclose(columns["latency_ms"], costs.latency_ms, rtol=1e-5)
    np.testing.assert_allclose(columns["energy_mj"], costs.energy_mj, rtol=1e-5)
    np.testing.assert_allclose(columns["bitops"], costs.bitops, rtol=1e-5)
    np.testing.assert_array_equal(columns["feasible"], costs.latency_ms <= constraint.limit)
    scores = fmnist_predictor.predict(Encoder(table.space).encode(genomes))
    np.testing.assert_allclose(columns["predicted_acc"], scores, rtol=1e-5)
    ga = columns["method"] == "ga"
    assert np.bincount(columns["generation"][ga]).tolist() == [config.population] + [config.children] * 2
    # the winner: the best feasible GA row, or an NSGA-II front member within the limit
    best_ga = columns["predicted_acc"][ga & (columns["feasible"] == 1)].max()
    best_nsga2 = columns["predicted_acc"][(columns["method"] == "nsga2") & (columns["feasible"] == 1)].max()
    assert best["predicted_acc"] == pytest.approx(max(best_ga, best_nsga2), rel=1e-5)
