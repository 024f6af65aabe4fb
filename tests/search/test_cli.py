"""`apq search`: error paths (one line, exit 2, no run folder) and the run folder's schema."""
import csv
import json
import os

import numpy as np
import pytest

from apq.cli import main
from apq.space.registry import create_space
from apq.space.spec import decode
from tests.helpers.search import baseline_names, save_random_predictor, save_smoke_supernet

SMOKE = ["--preset", "smoke", "--generations", "3"]


def run_cli(capsys, *args):
    try:
        code = main(list(args))
    except SystemExit as stop:  # argparse's own errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("apq: error:"), err
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("flags,words", [
    (["--energy", "-2"], ["--energy -2", "mJ"]),
    (["--latency", "3", "--energy", "1"], ["not both"]),
    (["--latency", "fast"], ["not a number"]),
    (["--run", "../x", "--latency", "3"], ["bad run name"]),
])
def test_bad_constraints_exit_2_with_one_line_and_no_run_folder(tmp_path, capsys, flags, words):
    """Negative, NaN and infeasible --latency are rows of tests/test_bad_inputs.py."""
    code, _, err = run_cli(capsys, "search", "--target", "fpga", *SMOKE, *flags)
    assert_one_line_error(code, err, *words)
    assert not (tmp_path / "results").exists()


def test_energy_on_the_cpu_target_is_refused_before_any_timing(tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", "--target", "cpu", *SMOKE, "--energy", "1")
    assert_one_line_error(code, err, "cpu", "energy", "--latency")
    assert not (tmp_path / "data").exists() and not (tmp_path / "results").exists()


def test_missing_predictor_is_one_line_and_no_run_folder(tmp_path, capsys):
    code, _, err = run_cli(capsys, "search", "--target", "fpga", *SMOKE, "--latency", "3")
    assert_one_line_error(code, err, "predictor")
    assert not (tmp_path / "results").exists()


@pytest.fixture
def finished_run(tmp_path, capsys):
    save_random_predictor("fmnist")
    save_smoke_supernet()
    code, out, err = run_cli(capsys, "search", "--target", "fpga", *SMOKE, "--baselines", "--jobs", "1", "--run", "r1")
    assert code == 0, err
    return tmp_path / "results" / "fmnist" / "fpga" / "r1", out


def test_run_folder_schema(finished_run):
    run_dir, out = finished_run
    assert sorted(p.name for p in run_dir.iterdir()) == ["best.json", "candidates.csv.gz", "config.json", "logbook.csv",
                                                         "pareto.csv"]
    assert os.readlink(run_dir.parent / "latest") == "r1"
    assert "best under latency_ms" in out and "median latency_ms" in out and str(run_dir) in out
    space = create_space("fmnist")
    best = json.loads((run_dir / "best.json").read_text())
    for key in ("predicted_acc", "latency_ms", "energy_mj", "bitops", "genome", "architecture", "bit_policy"):
        assert key in best
    assert best["constraint"]["metric"] == "latency_ms" and best["constraint"]["source"].startswith("default")
    assert best["latency_ms"] <= best["constraint"]["limit"]
    spec = decode(space, np.asarray(best["genome"]))
    assert best["architecture"]["ks"] == spec["ks"] and best["bit_policy"]["pw_w_bits_setting"] == spec["pw_w_bits_setting"]
    assert set(best["baselines"]) == baseline_names(create_space("fmnist"))
    for entry in best["baselines"].values():
        assert entry["predicted_acc"] is None or entry["latency_ms"] <= best["constraint"]["limit"]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["search"]["generations"] == 3 and config["preset"]["name"] == "smoke"
    assert config["feasible_range"]["latency_ms"][0] < best["latency_ms"]


def test_pareto_and_logbook_csv_schema(finished_run):
    run_dir, _ = finished_run
    with open(run_dir / "pareto.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["method", "genome", "arch", "predicted_acc", "latency_ms", "energy_mj", "bitops"]
    assert {r["method"] for r in rows} >= {"joint", "random", "sequential"}
    space = create_space("fmnist")
    assert all(len(r["genome"].split()) == space.n_genes for r in rows)
    with open(run_dir / "logbook.csv") as handle:
        log = list(csv.DictReader(handle))
    assert {r["method"] for r in log} == {"ga", "nsga2"} | baseline_names(space)
    ga_rows = [r for r in log if r["method"] == "ga"]
    assert [int(r["gen"]) for r in ga_rows] == [0, 1, 2, 3]
    assert all(0 < float(r["hypervolume"]) < 1 for r in ga_rows)


def test_an_existing_run_name_is_refused(finished_run, capsys):
    code, _, err = run_cli(capsys, "search", "--target", "fpga", *SMOKE, "--run", "r1")
    assert_one_line_error(code, err, "already exists")
